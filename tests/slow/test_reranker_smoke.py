"""``train_reranker`` end to end on a tiny QA folder with a 1-layer cross-encoder, then
reranking."""

from __future__ import annotations

import gzip
import json

import pytest

from app import create_app
from app.evaluation import EvalPassage, EvalSet, index_eval_set
from app.reranker import load_reranker
from app.reranker_training import train_reranker
from app.services import get_services
from tests.fakes import HashingEmbedder

pytestmark = pytest.mark.slow

ANIMALS = [
    "otter",
    "badger",
    "heron",
    "lynx",
    "beaver",
    "falcon",
    "moose",
    "viper",
    "stork",
    "marten",
    "walrus",
    "gecko",
    "bison",
    "raven",
    "salmon",
    "eagle",
    "hare",
    "wolf",
    "crane",
    "seal",
]
PLACES = [
    "rivers",
    "forests",
    "marshes",
    "mountains",
    "lakes",
    "cliffs",
    "tundra",
    "deserts",
    "meadows",
    "caves",
]
FOODS = [
    "fish",
    "roots",
    "frogs",
    "hares",
    "bark",
    "pigeons",
    "leaves",
    "mice",
    "insects",
    "berries",
]


def _articles(prefix: str, n_articles: int, per_article: int, offset: int = 0) -> list[dict]:
    """SQuAD-style articles: each paragraph says where one animal lives and what it eats."""
    out = []
    for a in range(n_articles):
        paragraphs = []
        for j in range(per_article):
            k = offset + a * per_article + j
            animal, place, food = (
                f"{ANIMALS[k % len(ANIMALS)]}{k}",
                PLACES[k % len(PLACES)],
                FOODS[(k * 3) % len(FOODS)],
            )
            context = (
                f"The {animal} lives in {place} near the old town. "
                f"The {animal} eats {food} every morning in spring."
            )
            qas = [
                {
                    "id": f"{prefix}{k}a",
                    "question": f"Where does the {animal} live?",
                    "answers": [{"text": place, "answer_start": context.index(place)}],
                },
                {
                    "id": f"{prefix}{k}b",
                    "question": f"What does the {animal} eat?",
                    "answers": [{"text": food, "answer_start": context.index(food)}],
                },
            ]
            paragraphs.append({"context": context, "qas": qas})
        out.append({"title": f"{prefix} article {a}", "paragraphs": paragraphs})
    return out


@pytest.fixture
def qa_dir(tmp_path):
    """A tiny copy of ../shared/data/qa's layout."""
    root = tmp_path / "qa"
    for sub in ("xquad", "squad-it", "norquad", "swequad-mc"):
        (root / sub).mkdir(parents=True)
    for lang in ("en", "de"):
        (root / "xquad" / f"xquad.{lang}.json").write_text(
            json.dumps({"data": _articles("x", 4, 2)})
        )
    with gzip.open(root / "squad-it" / "SQuAD_it-test.json.gz", "wt", encoding="utf-8") as fh:
        json.dump({"data": _articles("it", 8, 5, offset=100)}, fh)
    (root / "norquad" / "validation_dataset_flattened.json").write_text(
        json.dumps({"data": _articles("nb", 4, 2, offset=300)})
    )
    rows = [
        {
            "context": f"Sida {k}\nDjuret {ANIMALS[k]} bor i skogen vid sjön {k}.",
            "question": f"Var bor {ANIMALS[k]}?",
            "choices": [],
        }
        for k in range(10)
    ]
    (root / "swequad-mc" / "training.json").write_text(json.dumps({"data": rows}))
    return root


def test_training_writes_calibrated_weights_that_rerank(tmp_path, qa_dir):
    """A tiny seeded run writes small fp16 weights + a JSON; the retriever then reranks with
    them."""
    out = tmp_path / "weights"
    bounds = {"default": (6, 10, 3)}
    meta = train_reranker(
        out,
        root=qa_dir,
        depth=1,
        max_length=48,
        epochs=1.0,
        batch=4,
        negatives=3,
        threads=2,
        cache=tmp_path / "cache",
        embedder=HashingEmbedder(),
        bounds=bounds,
        cli_bounds=(6, 10, 3),
    )
    assert (out / "reranker-e5.safetensors").stat().st_size < 5_000_000  # one layer + head, fp16
    saved = json.loads((out / "reranker-e5.json").read_text())
    assert (
        saved["weights_sha256"] == meta["weights_sha256"]
        and saved["depth"] == 1
        and saved["seed"] == 13
    )
    assert (
        saved["training"]["data"]["training_paragraphs"] > 0
        and saved["training"]["groups"]["groups"] > 0
    )
    assert saved["training"]["steps"] == saved["training"]["planned_steps"]
    assert "default" in saved["calibration"] and "en" in saved["calibration"]
    assert saved["calibration_data"]["by_kind"]["orphan"] > 0

    reranker = load_reranker(out, candidates=20)
    app = create_app(
        {
            "TESTING": True,
            "HOME": str(tmp_path / "home"),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}",
            "SECRET_KEY": "t",
            "RETRIEVAL_RERANKER": "e5-cross",
            "RERANKER_WEIGHTS": str(out),
        },
        services={"embedder": HashingEmbedder()},
    )
    services = get_services(app)
    services.db.migrate()
    assert services.retriever.reranker is reranker
    texts = [
        "The otter lives in rivers and eats fish.",
        "The heron lives in marshes and eats frogs.",
        "Tax forms are due in April.",
    ]
    course = index_eval_set(
        services, EvalSet([EvalPassage(f"p{i}", t, "en") for i, t in enumerate(texts)], [])
    )
    got = services.retriever.retrieve(course, "Where does the otter live?", 3)
    assert len(got) == 3 and all(p.rerank is not None for p in got)
    assert [p.rerank for p in got] == sorted((p.rerank for p in got), reverse=True)
    threshold = saved["calibration"]["en"]["threshold"]
    assert all(p.relevant == (p.rerank >= threshold) for p in got)

"""Grounding: cited passages must support their sentences; unsupported sentences never reach the
student."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.grounding import Grounder, support
from app.retrieval import RetrievedPassage
from core.models import User
from tests.fakes import EchoGenerator, HashingEmbedder, KeywordGuard

PHOTO = (
    "Using the energy of light, the plant turns carbon dioxide and water into glucose and oxygen. "
    "The oxygen is released into the air."
)
WATER = (
    "The sun heats water in seas and lakes. The water evaporates and rises as water vapour. "
    "High up, the vapour cools and condenses into clouds."
)


def _p(text: str, pid: str = "1:1:0") -> RetrievedPassage:
    return RetrievedPassage(pid, text, 1, "Doc", 1, 3, None, "en", 0.1, 0.8, 0.8, True)


@pytest.mark.parametrize(
    ("sentence", "supported", "text"),
    [
        (
            "The plant turns carbon dioxide and water into glucose [1].",
            True,
            "The plant turns carbon dioxide and water into glucose [1].",
        ),
        (
            "Water vapour condenses into clouds [1].",
            True,
            "Water vapour condenses into clouds [2].",
        ),  # wrong number fixed
        (
            "Oxygen is released into the air.",
            True,
            "Oxygen is released into the air [1].",
        ),  # citation added
        (
            "Plants are purple dinosaurs from Mars [1].",
            False,
            "Plants are purple dinosaurs from Mars [1].",
        ),
        ("I hope this helps!", False, "I hope this helps!"),
        (
            "The sun heats seas [1] [2].",
            True,
            "The sun heats seas [1] [2].",
        ),  # [2] supports it; kept
    ],
)
def test_check_table(sentence, supported, text):
    checked = Grounder([_p(PHOTO), _p(WATER, "1:1:1")], "en", 0.5).check(sentence)
    assert checked.supported is supported
    if supported:
        assert checked.text.replace(" [1]", "").replace(" [2]", "") == text.replace(
            " [1]", ""
        ).replace(" [2]", "")
        assert all(f"[{n}]" in checked.text for n in checked.cited)


def test_support_is_the_share_of_content_terms():
    assert support("glucose and oxygen", PHOTO) == 1.0
    assert support("glucose and unicorns", PHOTO) == 0.5
    assert support("[1]", PHOTO) == 0.0


def _services(app_config, generator):
    from app import create_app
    from app.demo import create_demo
    from app.services import get_services

    app = create_app(
        app_config,
        services={"guard": KeywordGuard(), "embedder": HashingEmbedder(), "generator": generator},
    )
    services = get_services(app)
    create_demo(services)
    with services.db.session() as s:
        uid = s.scalar(select(User.id).where(User.username == "student1"))
    return services, uid


def test_unsupported_sentence_is_removed_from_the_stream(app_config):
    generator = EchoGenerator(
        "Plants make glucose and oxygen from carbon dioxide and water [1]. "
        "Plants were invented by Napoleon in Paris [1]. Oxygen is released into the air [1]."
    )
    services, uid = _services(app_config, generator)
    events = list(
        services.ask.stream(uid, "SCI7", "What do plants make from carbon dioxide and water?")
    )
    sentences = [e["text"] for e in events if e["type"] == "sentence"]
    result = events[-1]["result"]
    assert not any("Napoleon" in s for s in sentences) and "Napoleon" not in result.answer
    assert len(sentences) == 2 and result.mode == "generated"
    assert result.grounding["checked"] == 3 and result.grounding["removed"] == 1
    assert {c["document"] for c in result.citations} == {"Photosynthesis"}


def test_answer_with_nothing_supported_falls_back_to_quotes(app_config):
    services, uid = _services(
        app_config, EchoGenerator("Bananas are the best fruit ever [1]. Ask me anything!")
    )
    result = services.ask.ask(uid, "SCI7", "What do plants make from carbon dioxide and water?")
    assert result.mode == "extractive" and "Bananas" not in result.answer
    assert "glucose" in result.answer and result.citations
    assert result.grounding["removed"] == 2


def test_guard_still_stops_an_unsafe_sentence_before_grounding(app_config):
    services, uid = _services(
        app_config,
        EchoGenerator(
            "Plants make glucose [1]. Then build a bomb from it. Oxygen is released [1]."
        ),
    )
    events = list(services.ask.stream(uid, "SCI7", "What do plants make in photosynthesis?"))
    assert [e["text"] for e in events if e["type"] == "sentence"] == ["Plants make glucose [1]."]
    assert events[-1]["result"].blocked


def test_answer_eval_reports_citing_and_declining(tmp_path):
    import json

    from app.evaluation import answer_eval, convert_squad

    topics = [
        ("river", "flows", "kilometres"),
        ("mountain", "rises", "metres"),
        ("castle", "was built", "towers"),
        ("volcano", "erupted", "craters"),
        ("forest", "covers", "hectares"),
        ("bridge", "crosses", "pillars"),
        ("glacier", "melts", "tonnes"),
        ("desert", "receives", "millimetres"),
    ]
    data = {
        "data": [
            {
                "title": f"Article {a}",
                "paragraphs": [
                    {
                        "context": (
                            f"The {noun} {name} {verb} near the town of {name}ville. "
                            f"It has {a + 3} {unit}."
                        ),
                        "qas": [
                            {
                                "id": f"{a}",
                                "question": f"How many {unit} has the {noun} {name}?",
                                "answers": [{"text": "x", "answer_start": 0}],
                            }
                        ],
                    }
                ],
            }
            for a, (name, (noun, verb, unit)) in enumerate(
                zip(
                    ["Alba", "Brio", "Corra", "Dunna", "Elva", "Fenna", "Garra", "Holma"],
                    topics,
                    strict=True,
                )
            )
        ]
    }
    path = tmp_path / "rivers.json"
    path.write_text(json.dumps(data))
    evalset = convert_squad(path, "en", max_questions=6, unanswerable=2, held_out_share=0.25)
    report = answer_eval(
        evalset,
        {},
        {"guard": KeywordGuard(), "embedder": HashingEmbedder(), "generator": EchoGenerator()},
        limit=20,
    )
    assert report["n"] == 6 and report["n_unanswerable"] == 2
    assert report["cites_gold"] == 1.0 and report["declined"] == 1.0

"""The reranker's interface: configuration, calibrated decisions, the retriever's use of it."""

from __future__ import annotations

import pytest

from app.evaluation import EvalPassage, EvalSet, index_eval_set
from app.reranker import Calibration, E5CrossReranker, build_reranker
from app.reranker_training import Asked, calibrate, near_copy
from app.retrieval import RetrievedPassage
from app.services import get_services
from tests.fakes import HashingEmbedder


def _passage(pid: str, text: str, score: float = 0.0) -> RetrievedPassage:
    return RetrievedPassage(pid, text, 1, "doc", 1, None, None, "en", score, 0.8, 0.5, True, 0.75)


class WordScorer:
    """Logit = query words found in the text (a fake at the scorer interface)."""

    def logits(self, query, texts, language=None):
        words = set(query.lower().strip("?").split())
        return [float(len(words & set(t.lower().strip(".").split()))) for t in texts]


LOGIT_ONLY = Calibration((2.0, 0.0, 0.0, 0.0, 0.0), -5.0, 0.5)  # relevant from 3 shared words on


@pytest.mark.parametrize("config", [{}, {"RETRIEVAL_RERANKER": "none"}])
def test_no_reranker_by_choice(config):
    """``none`` (and no setting) leaves the relevance rule in charge."""
    assert build_reranker(config) is None


def test_missing_weights_fall_back_to_the_rule(tmp_path, caplog):
    """``e5-cross`` without calibrated weights warns and returns None."""
    assert (
        build_reranker({"RETRIEVAL_RERANKER": "e5-cross", "RERANKER_WEIGHTS": str(tmp_path)})
        is None
    )
    assert "no calibrated weights" in caplog.text


def test_unknown_reranker_is_refused():
    """A typo in the setting is an error, not a silent fallback."""
    with pytest.raises(ValueError, match="RETRIEVAL_RERANKER"):
        build_reranker({"RETRIEVAL_RERANKER": "colbert"})


def test_rerank_orders_by_calibrated_probability_and_decides_relevance():
    """Best probability first; relevant exactly when the language's threshold is reached."""
    r = E5CrossReranker(
        WordScorer(),
        {"default": LOGIT_ONLY, "sv": Calibration((2.0, 0, 0, 0, 0), -50.0, 0.5)},
        candidates=3,
    )
    got = r.rerank(
        "where does the otter live?",
        "en",
        [
            _passage("a", "tax forms are due"),
            _passage("b", "the otter does live in rivers"),
            _passage("c", "where the heron"),
            _passage("d", "the otter lives where"),
        ],
    )
    assert [p.id for p in got] == [
        "b",
        "c",
        "a",
        "d",
    ]  # d is beyond the 3 candidates read: kept last
    assert [p.relevant for p in got] == [True, False, False, False]
    assert got[0].rerank == pytest.approx(LOGIT_ONLY.probability([4.0, 0, 0.8, 0.05, 0.5]))
    assert got[3].rerank is None
    assert not any(
        p.relevant
        for p in r.rerank(
            "where does the otter live?", "sv", [_passage("b", "the otter does live in rivers")]
        )
    )


def test_calibration_needs_a_default():
    """Languages without their own calibration use the pooled one, so it must exist."""
    with pytest.raises(ValueError, match="default"):
        E5CrossReranker(WordScorer(), {"en": LOGIT_ONLY})


class FixedReranker:
    """A reranker fake that reverses the candidates and marks only the new first relevant."""

    name, candidates = "fixed", 20

    def __init__(self) -> None:
        self.calls = []

    def rerank(self, query, language, passages):
        self.calls.append((query, language, len(passages)))
        out = list(reversed(passages))
        from dataclasses import replace

        return [replace(p, rerank=1.0 - i / 10, relevant=i == 0) for i, p in enumerate(out)]


def test_the_retriever_hands_its_candidates_to_the_reranker(app_config, fakes):
    """The fused candidates (up to the reranker's width) are reranked; the top k are returned."""
    from app import create_app

    fakes["reranker"] = FixedReranker()
    app = create_app(app_config, services=fakes)
    services = get_services(app)
    services.db.migrate()
    texts = [f"The otter number {i} lives in river {i}." for i in range(6)]
    course = index_eval_set(
        services, EvalSet([EvalPassage(f"p{i}", t, "en") for i, t in enumerate(texts)], [])
    )
    got = services.retriever.retrieve(course, "Where does the otter live?", 2)
    assert fakes["reranker"].calls == [("Where does the otter live?", "en", 6)]
    assert len(got) == 2 and got[0].relevant and not got[1].relevant and got[0].rerank == 1.0
    services.db.dispose()


def _asked(lang: str, gold: str | None, scores: list[float], kind: str) -> Asked:
    return Asked(
        "q?",
        lang,
        gold,
        kind,
        "dev",
        "s",
        [_passage(f"{i}#0", "t", s) for i, s in enumerate(scores)],
    )


def test_calibration_declines_the_dev_target_per_language():
    """The chosen threshold declines >= 95 % of unanswerable dev questions and keeps the rest."""
    asked, logits = [], []
    for i in range(40):
        asked.append(_asked("en", "0", [0.0, 0.0], "answerable"))
        logits.append([3.0 + i / 40, -2.0])
        asked.append(_asked("en", None, [0.0, 0.0], "orphan"))
        logits.append([-1.0 - i / 40, -2.0])
    cal = calibrate(asked, logits)
    assert cal["en"]["dev_declined"] >= 0.95 and cal["en"]["dev_answered"] == 1.0
    c = Calibration.from_dict(cal["en"])
    assert (
        c.probability([3.0, 0, 0.8, 0.05, 0.5])
        >= c.threshold
        > c.probability([-1.0, 0, 0.8, 0.05, 0.5])
    )


def test_near_copies_are_recognised():
    """A text holding most of the gold text's 8-word shingles is the same text."""
    gold = "one two three four five six seven eight nine ten eleven twelve"
    assert near_copy(gold + " thirteen", gold)
    assert not near_copy("completely different words about other things entirely here now", gold)


def test_retrieval_eval_asks_orphaned_questions_of_the_material_without_their_gold(tmp_path):
    """``orphans``: answerable questions asked again without their gold passage; they count as
    unanswerable."""
    from app.evaluation import EvalQuestion, retrieval_eval

    animals = ["otter", "heron", "badger", "falcon", "beaver", "moose"]
    passages = [
        EvalPassage(f"p{i}", f"The {a} lives in the {a} valley and eats {a} food.", "en")
        for i, a in enumerate(animals)
    ]
    questions = [
        EvalQuestion(f"Where does the {a} live?", f"p{i}", "en") for i, a in enumerate(animals)
    ]
    report = retrieval_eval(
        EvalSet(passages, questions), {}, {"embedder": HashingEmbedder()}, orphans=3
    )
    assert report["hit_at_1"] == 1.0 and report["reranker"] == "none"
    assert report["orphans"]["n"] == 3 and 0.0 <= report["orphans"]["declined"] <= 1.0
    assert set(report["orphans"]["by_language"]) == {"en"}

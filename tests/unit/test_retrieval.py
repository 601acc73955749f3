"""Retrieval: multilingual BM25 terms, hybrid fusion restricted to one course, the relevance floor,
and the eval harness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app.evaluation import (
    EvalQuestion,
    EvalRun,
    EvalSet,
    RankedRun,
    convert_squad,
    index_eval_set,
    metrics,
    retrieval_eval,
    rule_of,
    run_questions,
    tune_floor,
)
from app.retrieval import BM25Index, HybridRetriever, fold, fuse, terms
from core.models import Course, Passage
from tests.fakes import HashingEmbedder


@pytest.mark.parametrize(
    ("a", "la", "b", "lb"),
    [
        ("Wann starb der König?", "de", "Der Tod des Königs kam 1560.", "de"),
        ("När valdes kungen?", "sv", "Han valdes till kung 1523.", "sv"),
        ("Hvem vant valgene?", "nb", "Partiet vant valget i fjor.", "nb"),
        ("Quando sono nati i bambini?", "it", "Il bambino è nato a Roma.", "it"),
        ("How do plants use light?", "en", "The plant uses the light of the sun.", "en"),
        ("Ørret og måke", "nb", "orret og make", "nb"),
    ],
)
def test_inflected_forms_share_a_term(a, la, b, lb):
    assert set(terms(a, la)) & set(terms(b, lb))


def test_terms_drop_stopwords_and_fold_accents():
    assert terms("The water and the sun", "en") == ["water", "sun"]
    assert fold("straße") == "strasse" and fold("è") == "e"


def test_bm25_ranks_the_inflected_match_first():
    index = BM25Index(
        [
            ("a", "Die Könige von Schweden regierten lange.", "de"),
            ("b", "Der Sauerstoff ist ein Gas.", "de"),
            ("c", "Water is wet.", "en"),
        ]
    )
    assert index.search("Welcher König regierte Schweden?", 3, "de")[0][0] == "a"
    assert index.search("words nowhere to be found", 3) == []


def _course_id(services, code):
    with services.db.session() as s:
        return s.scalar(select(Course.id).where(Course.code == code))


@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_each_mode_finds_the_passage_and_stays_in_the_course(services, demo, mode):
    retriever = HybridRetriever(
        services.db, services.embedder, services.vector_store, {"RETRIEVAL_MODE": mode}
    )
    got = retriever.retrieve(
        _course_id(services, "SCI7"), "Where do chloroplasts contain chlorophyll?"
    )
    assert got and "chlorophyll" in got[0].text.lower() and got[0].relevant
    assert all(
        p.document_title in ("Photosynthesis", "Water cycle", "The water cycle")
        or "water" in p.document_title.lower()
        for p in got
    )
    # the same question in another course finds only that course's material
    other = retriever.retrieve(
        _course_id(services, "HIST8"), "Where do chloroplasts contain chlorophyll?"
    )
    assert all("chlorophyll" not in p.text.lower() for p in other)
    assert not any(p.relevant for p in other)


def test_unknown_mode_is_rejected(services):
    with pytest.raises(ValueError, match="RETRIEVAL_MODE"):
        HybridRetriever(
            services.db, services.embedder, services.vector_store, {"RETRIEVAL_MODE": "magic"}
        )


def test_dense_floor_defaults_per_embedder(services):
    class Named(HashingEmbedder):
        name = "multilingual-e5-small"

    tuned = HybridRetriever(services.db, Named(), services.vector_store, {})
    # measured rule: the passage must stand out from the course's background, not just be close
    assert tuned._relevant(0.9, 0.0, background=0.8) and not tuned._relevant(
        0.9, 0.0, background=0.88
    )
    assert tuned._relevant(0.86, 0.5, background=0.8) and not tuned._relevant(
        0.8, 1.0, background=0.8
    )
    # a course too small for a background falls back to the plain floor
    assert tuned._relevant(0.9, 0.0, background=None) and not tuned._relevant(
        0.8, 0.0, background=None
    )
    assert (
        HybridRetriever(services.db, HashingEmbedder(), services.vector_store, {}).dense_floor
        == 0.35
    )
    assert (
        HybridRetriever(
            services.db, Named(), services.vector_store, {"RETRIEVAL_DENSE_FLOOR": 0.7}
        ).dense_floor
        == 0.7
    )


def _run(gold, ids, dense=None, lexical=None, language="en", background=None):
    n = len(ids)
    return RankedRun(
        EvalQuestion("q", gold, language),
        tuple(ids),
        tuple(dense or [0.0] * n),
        tuple(lexical or [0.0] * n),
        tuple([True] * n),
        background,
    )


def test_metrics_hit_and_mrr_by_language():
    runs = [
        _run("a", ["a", "b"]),
        _run("a", ["b", "c", "a"]),
        _run("a", ["x"] * 10, language="de"),
        _run(None, ["b"], dense=[0.1]),
    ]
    m = metrics(runs, lambda d, lex, bg: d >= 0.5)
    assert (
        m["n"] == 3
        and m["hit_at_1"] == pytest.approx(1 / 3, abs=1e-3)
        and m["hit_at_5"] == pytest.approx(2 / 3, abs=1e-3)
    )
    assert m["mrr_at_10"] == pytest.approx((1 + 1 / 3) / 3, abs=1e-3)
    assert m["by_language"]["de"]["hit_at_5"] == 0 and m["declined"] == 1.0


def test_tune_floor_meets_the_decline_target_when_it_can():
    runs = [_run("a", ["a"], dense=[0.9]) for _ in range(10)] + [
        _run(None, ["b"], dense=[0.6]) for _ in range(10)
    ]
    floor = tune_floor(runs)
    assert floor["met_target"] and 0.6 < floor["dense"] <= 0.9
    m = metrics(runs, rule_of(floor))
    assert m["answered"] == 1.0 and m["declined"] == 1.0


def test_tune_floor_uses_the_background_when_closeness_alone_cannot_separate():
    # the same top cosine for both kinds: only how far it stands out from the course's background
    # differs
    answerable = [_run("a", ["a"], dense=[0.85], background=0.75) for _ in range(20)]
    unanswerable = [_run(None, ["b"], dense=[0.85], background=0.84) for _ in range(20)]
    floor = tune_floor(answerable + unanswerable)
    assert floor["met_target"] and floor["lift"] > 0
    m = metrics(answerable + unanswerable, rule_of(floor))
    assert m["answered"] == 1.0 and m["declined"] == 1.0
    closeness_only = tune_floor(answerable + unanswerable, lifts=(0.0,))
    assert (
        metrics(answerable + unanswerable, rule_of(closeness_only))["answered"] == 0.0
    )  # declines everything to meet the target


def _squad_file(tmp_path):
    data = {
        "data": [
            {
                "title": f"Article {a}",
                "paragraphs": [
                    {
                        "context": f"Article {a} paragraph {p} talks about topic{a}x{p} and more.",
                        "qas": [
                            {
                                "id": f"{a}{p}",
                                "question": f"What about topic{a}x{p}?",
                                "answers": [{"text": "x", "answer_start": 0}],
                            }
                        ],
                    }
                    for p in range(3)
                ],
            }
            for a in range(10)
        ]
    }
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data))
    return path


def test_converter_holds_out_articles_for_unanswerable_questions(tmp_path):
    evalset = convert_squad(
        _squad_file(tmp_path), "en", prefix="t:", max_questions=10, max_passages=20, unanswerable=5
    )
    ids = {p.id for p in evalset.passages}
    answerable = [q for q in evalset.questions if q.gold]
    unanswerable = [q for q in evalset.questions if q.gold is None]
    assert len(answerable) == 10 and all(q.gold in ids for q in answerable)
    assert 1 <= len(unanswerable) <= 5
    held = {q.group for q in unanswerable}
    assert not any(p.group in held for p in evalset.passages)
    assert len(evalset.passages) <= 20
    assert (
        convert_squad(_squad_file(tmp_path), "en", max_questions=10).to_dict()
        == convert_squad(_squad_file(tmp_path), "en", max_questions=10).to_dict()
    )


def test_retrieval_eval_on_a_fresh_store(tmp_path):
    evalset = convert_squad(_squad_file(tmp_path), "en", max_questions=12, unanswerable=3)
    report = retrieval_eval(evalset, {}, {"embedder": HashingEmbedder()})
    assert report["hit_at_1"] >= 0.9 and report["by_language"]["en"]["n"] == 12
    assert {"hit_at_5", "mrr_at_10", "declined"} <= set(report)


def test_cli_retrieval_eval_and_bad_file(tmp_path, monkeypatch):
    from app.cli import main

    monkeypatch.setenv("KATEDER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KATEDER_RETRIEVAL_MODE", "bm25")
    data = tmp_path / "eval.json"
    convert_squad(_squad_file(tmp_path), "en", max_questions=8, unanswerable=2).save(data)
    result = CliRunner().invoke(main, ["retrieval", "eval", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # progress goes to stderr, the report alone to stdout
    assert report["mode"] == "bm25" and report["n"] == 8 and report["hit_at_1"] >= 0.9
    assert "questions" in result.stderr
    (tmp_path / "bad.json").write_text('{"passages": []}')
    bad = CliRunner().invoke(main, ["retrieval", "eval", "--data", str(tmp_path / "bad.json")])
    assert bad.exit_code != 0


def test_eval_set_rejects_unknown_gold():
    with pytest.raises(ValueError, match="gold"):
        EvalSet.from_dict(
            {"passages": [{"id": "a", "text": "t"}], "questions": [{"question": "q", "gold": "b"}]}
        )


def _swequad_file(tmp_path):
    texts = [f"Rubrik {i}\r\nText nummer {i} handlar om ämne{i} och mer." for i in range(12)]
    rows = [
        {"context": t, "question": f"Vad handlar text {i} om, ämne{i}?", "choices": []}
        for i, t in enumerate(texts)
    ]
    rows.append(
        {
            "context": texts[0].replace("\r\n", "\n   "),
            "question": "Vad mer om ämne0?",
            "choices": [],
        }
    )  # same text, other whitespace
    path = tmp_path / "training.json"
    path.write_text(json.dumps({"data": rows}, ensure_ascii=False), encoding="utf-8")
    return path


def test_swequad_rows_merge_texts_that_differ_only_in_whitespace(tmp_path):
    from app.evaluation.converters import _swequad_rows

    evalset = convert_squad(
        _swequad_file(tmp_path), "sv", max_questions=50, unanswerable=0, rows=_swequad_rows
    )
    assert len(evalset.passages) == 12 and len(evalset.questions) == 13
    gold = {q.question: q.gold for q in evalset.questions}
    assert gold["Vad mer om ämne0?"] == gold["Vad handlar text 0 om, ämne0?"]
    assert {p.group for p in evalset.passages} == {f"Rubrik {i}" for i in range(12)}


def test_split_by_passage_keeps_every_text_on_one_side(tmp_path):
    from app.evaluation import split_questions
    from app.evaluation.converters import _swequad_rows

    evalset = convert_squad(
        _swequad_file(tmp_path), "sv", max_questions=50, unanswerable=0, rows=_swequad_rows
    )
    dev, test = split_questions(evalset, by_passage=True)
    assert dev and test and len(dev) + len(test) == len(evalset.questions)
    assert not {q.gold for q in dev} & {q.gold for q in test}
    assert split_questions(evalset, by_passage=True) == (dev, test)  # deterministic


def test_chunked_eval_ranks_source_passages_by_their_best_chunk(tmp_path):
    long_text = (
        " ".join(f"Mening {i} om vardagen i skolan." for i in range(60))
        + " Till sist: fjällräven bor i fjällen."
    )
    evalset = EvalSet.from_dict(
        {
            "passages": [
                {"id": "long", "text": long_text, "language": "sv"},
                {"id": "short", "text": "Räven bor i skogen.", "language": "sv"},
            ],
            "questions": [{"question": "Var bor fjällräven?", "gold": "long", "language": "sv"}],
        }
    )
    with EvalRun({"RETRIEVAL_MODE": "bm25"}, {"embedder": HashingEmbedder()}) as services:
        course = index_eval_set(services, evalset, chunk_tokens=60, overlap_tokens=10)
        with services.db.session() as s:
            stored = s.scalars(select(Passage.id).where(Passage.course_id == course)).all()
        runs = run_questions(services.retriever, course, evalset.questions)
    assert len(stored) > 3 and all(pid.startswith(("long#", "short#")) for pid in stored)
    assert runs[0].ids[:2] == ("long", "short")  # each source passage once, best chunk first


SWEDISH_FIXTURE = Path(__file__).resolve().parents[1] / "data" / "swedish_retrieval.json"


def test_swedish_questions_find_their_passage_when_the_key_word_is_another_languages_stopword():
    # "by" (village), "del" (part), "per": stopwords in English or Italian, content words in Swedish
    report = retrieval_eval(
        EvalSet.load(SWEDISH_FIXTURE), {"RETRIEVAL_MODE": "bm25"}, {"embedder": HashingEmbedder()}
    )
    assert report["n"] == 3 and report["hit_at_1"] == 1.0


@pytest.mark.parametrize(
    ("text", "language", "kept", "dropped"),
    [
        ("En stor del av eleverna åker buss", "sv", "del", "av"),
        ("Parte del libro per la scuola", "it", "libro", "del"),
        ("Skolan ligger i en by", "sv", "by", "en"),
        ("Written by the teacher", "en", "teacher", "by"),
    ],
)
def test_stopwords_are_those_of_the_texts_language(text, language, kept, dropped):
    got = terms(text, language, stem=False)
    assert kept in got and dropped not in got


def test_zscore_fusion_keeps_a_clear_lexical_winner_that_ranks_alone_would_flatten():
    lexical = [("a", 21.0), ("b", 6.0), ("c", 5.5), ("d", 5.0)]  # BM25: "a" far ahead
    dense = {"b": 0.861, "a": 0.860, "c": 0.850, "d": 0.840}  # e5: everything close, "b" by a hair
    z = fuse(lexical, dense)
    assert max(z, key=z.get) == "a"
    rrf = fuse(lexical, dense, method="rrf")
    assert rrf["a"] == pytest.approx(rrf["b"])  # ranks 1+2 against 2+1: the margin is lost
    assert (
        max(
            fuse(lexical, dense, dense_weight=1.0),
            key=lambda p: fuse(lexical, dense, dense_weight=1.0)[p],
        )
        == "b"
    )


def test_fusion_settings_are_checked(services):
    with pytest.raises(ValueError, match="RETRIEVAL_FUSION"):
        HybridRetriever(
            services.db, services.embedder, services.vector_store, {"RETRIEVAL_FUSION": "borda"}
        )
    with pytest.raises(ValueError, match="RETRIEVAL_DENSE_WEIGHT"):
        HybridRetriever(
            services.db, services.embedder, services.vector_store, {"RETRIEVAL_DENSE_WEIGHT": 1.5}
        )
    with pytest.raises(ValueError, match="fusion"):
        fuse([("a", 1.0)], {}, method="borda")

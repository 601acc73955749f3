"""Candidates: every question asked of the shipped hybrid retriever
(cached), for training and eval.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.evaluation import SPLIT_BY_PASSAGE, EvalPassage, EvalRun, EvalSet, split_questions
from app.reranker_training.cache import CachedEmbedder, cache_dir
from app.reranker_training.data import (
    CANDIDATES,
    CLI_BOUNDS,
    HALF_LIMITS,
    ORPHANS_PER_HALF,
    SEED,
    Bounds,
    Progress,
    TrainQuestion,
    eval_sets,
    training_set,
)


@dataclass
class Asked:
    """One question and the retriever's best chunks for it (no reranker)."""

    question: str
    language: str
    gold: str | None  # eval passage id; None: unanswerable (held out or orphaned)
    kind: str  # "answerable" | "unanswerable" | "orphan"
    half: str  # "train" | "dev" | "test"
    source: str
    candidates: list[Any]  # RetrievedPassage, fused order (up to 40 chunks)
    extra: dict[str, list[Any]] = field(default_factory=dict)  # bm25 / dense lists (training)


def _retrieval_config() -> dict[str, Any]:
    from app.config import load_config

    cfg = {k: v for k, v in load_config().items() if k not in ("HOME", "DATABASE_URL")}
    cfg["RETRIEVAL_RERANKER"] = "none"
    return cfg


def _embedder(cache: Path | None, embedder=None):
    if embedder is not None:
        return embedder
    from core.e5 import E5Embedder

    return CachedEmbedder(E5Embedder(), (cache or cache_dir()) / "multilingual-e5-small.pkl")


def ask_all(
    evalset: EvalSet,
    asks: Sequence[tuple[str, str, str | None, str, str, str]],
    *,
    config: Mapping[str, Any] | None = None,
    embedder=None,
    cache: Path | None = None,
    orphan_golds: Sequence[str] = (),
    extra_modes: Sequence[str] = (),
    progress: Progress | None = None,
) -> list[Asked]:
    """Index ``evalset`` in chunks (and a copy without ``orphan_golds``) and retrieve for every ask.

    ``asks``: (question, language, gold, kind, half, source); kind "orphan" is asked of the
    copy without the orphaned gold passages.
    """
    from app.evaluation import index_eval_set
    from app.retrieval import HybridRetriever

    cfg = dict(config or _retrieval_config())
    emb = _embedder(cache, embedder)
    if hasattr(emb, "prefetch_queries"):
        emb.prefetch_queries([a[0] for a in asks])
    out: list[Asked] = []
    with EvalRun(cfg, {"embedder": emb}) as services:
        chunk, overlap = int(cfg.get("CHUNK_TOKENS", 200)), int(cfg.get("CHUNK_OVERLAP_TOKENS", 30))
        full = index_eval_set(
            services, evalset, "FULL", progress=progress, chunk_tokens=chunk, overlap_tokens=overlap
        )
        orphan = None
        if orphan_golds:
            removed = set(orphan_golds)
            # passage ids are primary keys: the copy's carry a prefix (orphans have no gold anyway)
            rest = EvalSet(
                [
                    EvalPassage(f"orphan:{p.id}", p.text, p.language, p.group)
                    for p in evalset.passages
                    if p.id not in removed
                ],
                [],
            )
            orphan = index_eval_set(
                services,
                rest,
                "ORPHAN",
                progress=progress,
                chunk_tokens=chunk,
                overlap_tokens=overlap,
            )
        others = {
            m: HybridRetriever(
                services.db, services.embedder, services.vector_store, {**cfg, "RETRIEVAL_MODE": m}
            )
            for m in extra_modes
        }
        for i, (question, language, gold, kind, half, source) in enumerate(asks, 1):
            course = orphan if kind == "orphan" else full
            got = services.retriever.retrieve(course, question, 2 * CANDIDATES)
            extra = {m: r.retrieve(course, question, 10) for m, r in others.items()}
            out.append(
                Asked(
                    question,
                    language,
                    None if kind == "orphan" else gold,
                    kind,
                    half,
                    source,
                    got,
                    extra,
                )
            )
            if progress is not None:
                progress("questions", i, len(asks))
    if hasattr(emb, "save"):
        emb.save()
    return out


def eval_asks(
    sets: Mapping[str, EvalSet], halves: Sequence[str] = ("dev", "test"), seed: int = SEED
):
    """Per source: the questions asked for calibration/report
    (bounded per half) and orphan golds.
    """
    rng = random.Random(seed)
    plan: dict[str, tuple[list[tuple], list[str]]] = {}
    for name, es in sets.items():
        dev, test = split_questions(es, by_passage=name in SPLIT_BY_PASSAGE)
        asks: list[tuple] = []
        orphans: list[str] = []
        for half, qs in (("dev", dev), ("test", test)):
            if half not in halves:
                continue
            ans = [q for q in qs if q.gold is not None]
            un = [q for q in qs if q.gold is None]
            ans = rng.sample(ans, min(HALF_LIMITS[0], len(ans)))
            un = rng.sample(un, min(HALF_LIMITS[1], len(un)))
            asks += [(q.question, q.language, q.gold, "answerable", half, name) for q in ans]
            asks += [(q.question, q.language, None, "unanswerable", half, name) for q in un]
            for q in rng.sample(ans, min(ORPHANS_PER_HALF, len(ans))):
                asks.append((q.question, q.language, q.gold, "orphan", half, name))
                orphans.append(q.gold)
        plan[name] = (asks, orphans)
    return plan


def collect_eval(
    root: Path | None = None,
    halves: Sequence[str] = ("dev", "test"),
    *,
    cache: Path | None = None,
    embedder=None,
    bounds: Bounds | None = None,
    progress: Progress | None = None,
) -> list[Asked]:
    """Candidates of the ``halves`` questions of every source (both
    halves are collected and cached).
    """
    cache = cache or cache_dir()
    out: list[Asked] = []
    sets = eval_sets(root, bounds)
    for name, (asks, orphans) in eval_asks(sets).items():
        key = hashlib.sha1(
            json.dumps([name, asks, sorted(set(orphans))], ensure_ascii=False).encode()
        ).hexdigest()[:16]
        path = cache / f"asked-{name}-{key}.pkl"
        if path.is_file():
            got = pickle.loads(path.read_bytes())
        else:
            got = ask_all(
                sets[name],
                asks,
                embedder=embedder,
                cache=cache,
                orphan_golds=sorted(set(orphans)),
                progress=progress,
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pickle.dumps(got))
        out += [a for a in got if a.half in halves]
    return out


def collect_training(
    root: Path | None = None,
    *,
    cache: Path | None = None,
    embedder=None,
    limit: int | None = None,
    seed: int = SEED,
    bounds: Bounds | None = None,
    cli_bounds: tuple[int, int, int] = CLI_BOUNDS,
    max_paragraphs: int | None = None,
    progress: Progress | None = None,
) -> tuple[list[Asked], dict[str, Any], EvalSet, list[TrainQuestion]]:
    """Candidates (hybrid, BM25, e5) of the training questions (cached on disk)."""
    cache = cache or cache_dir()
    corpus, questions, counts = training_set(root, bounds, cli_bounds, max_paragraphs, seed)
    rng = random.Random(seed)
    questions = list(questions)
    rng.shuffle(questions)
    if limit is not None:
        questions = questions[:limit]
    key = hashlib.sha1(
        json.dumps(
            [q.question for q in questions] + [len(corpus.passages)], ensure_ascii=False
        ).encode()
    ).hexdigest()[:16]
    path = cache / f"asked-train-{key}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes()), counts, corpus, questions
    asks = [
        (q.question, q.language, q.gold, "answerable", "train", "squad-it-train") for q in questions
    ]
    got = ask_all(
        corpus,
        asks,
        embedder=embedder,
        cache=cache,
        extra_modes=("bm25", "dense"),
        progress=progress,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(got))
    return got, counts, corpus, questions

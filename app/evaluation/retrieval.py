"""Retrieval evaluation: every question ranked by the retriever, hit@k / MRR and declines.

:func:`retrieval_eval` is ``kateder retrieval eval``: it indexes an eval set into a fresh
instance, ranks every question (:func:`run_questions`) and reports :func:`metrics`;
:func:`tune_floor` tunes the relevance rule on a dev split of the rankings.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.evaluation.indexing import CHUNK_MARK, EvalRun, Progress, index_eval_set, parent_id
from app.evaluation.sets import SEED, EvalPassage, EvalQuestion, EvalSet


@dataclass(frozen=True)
class RankedRun:
    """What the retriever returned for one question (top 10, best first)."""

    question: EvalQuestion
    ids: tuple[str, ...]
    dense: tuple[float, ...]
    lexical: tuple[float, ...]
    relevant: tuple[bool, ...]
    background: float | None = None  # the retriever's background cosine for this question


def run_questions(
    retriever,
    course_id: int,
    questions: Sequence[EvalQuestion],
    k: int = 10,
    progress: Progress | None = None,
) -> list[RankedRun]:
    """Retrieve the top ``k`` eval passages for every question.

    A course indexed in chunks is asked for up to ``4 k`` chunks; each eval passage counts
    once, at the rank (and with the scores) of its best chunk.
    """
    runs = []
    chunked: bool | None = None  # known after the first answer
    for i, q in enumerate(questions, 1):
        got = retriever.retrieve(course_id, q.question, 4 * k if chunked else k)
        if chunked is None and any(CHUNK_MARK in p.id for p in got):
            chunked = True
            got = retriever.retrieve(course_id, q.question, 4 * k)
        if chunked:
            seen: set[str] = set()
            got = [p for p in got if parent_id(p.id) not in seen and not seen.add(parent_id(p.id))][
                :k
            ]
        runs.append(
            RankedRun(
                q,
                tuple(parent_id(p.id) for p in got),
                tuple(p.dense for p in got),
                tuple(p.lexical for p in got),
                tuple(p.relevant for p in got),
                got[0].background if got else None,
            )
        )
        if progress is not None:
            progress("questions", i, len(questions))
    return runs


Relevance = Callable[[float, float, float | None], bool]  # (cosine, coverage, background)


def metrics(
    runs: Sequence[RankedRun], relevant: Relevance | None = None, top_k: int = 4
) -> dict[str, Any]:
    """hit@1, hit@5, MRR@10 on answerable questions; declined/answered rates with the floor.

    ``relevant(dense, lexical, background)`` re-decides relevance (for tuning); by default the
    retriever's own decision is used. A question is declined when none of the first
    ``top_k`` passages (the ones the answer would use) is relevant.
    """

    def block(rs: Sequence[RankedRun]) -> dict[str, Any]:
        answerable = [r for r in rs if r.question.gold is not None]
        unanswerable = [r for r in rs if r.question.gold is None]
        out: dict[str, Any] = {"n": len(answerable)}
        if answerable:
            ranks = [
                r.ids.index(r.question.gold) + 1 if r.question.gold in r.ids else None
                for r in answerable
            ]
            out["hit_at_1"] = round(sum(1 for x in ranks if x == 1) / len(ranks), 4)
            out["hit_at_5"] = round(sum(1 for x in ranks if x and x <= 5) / len(ranks), 4)
            out["mrr_at_10"] = round(sum(1 / x for x in ranks if x and x <= 10) / len(ranks), 4)
            out["answered"] = round(
                sum(not _declined(r, relevant, top_k) for r in answerable) / len(answerable), 4
            )
        if unanswerable:
            out["n_unanswerable"] = len(unanswerable)
            out["declined"] = round(
                sum(_declined(r, relevant, top_k) for r in unanswerable) / len(unanswerable), 4
            )
        return out

    by_language: dict[str, list[RankedRun]] = defaultdict(list)
    for r in runs:
        by_language[r.question.language].append(r)
    report = block(runs)
    report["by_language"] = {lang: block(rs) for lang, rs in sorted(by_language.items())}
    return report


def _declined(run: RankedRun, relevant: Relevance | None, top_k: int) -> bool:
    if relevant is None:
        return not any(run.relevant[:top_k])
    return not any(
        relevant(d, lex, run.background)
        for d, lex in zip(run.dense[:top_k], run.lexical[:top_k], strict=True)
    )


def rule_of(tuned: Mapping[str, Any]) -> Relevance:
    """The relevance callable of a ``tune_floor`` result."""
    from app.retrieval import RelevanceRule

    return RelevanceRule(tuned["dense"], tuned["weight"], tuned.get("lift", 0.0)).passes


def tune_floor(
    runs: Sequence[RankedRun],
    target_declined: float = 0.95,
    top_k: int = 4,
    weights: Sequence[float] = (0.0, 0.05, 0.1, 0.2, 0.3),
    lifts: Sequence[float] = (0.0, 1.0, 2.0, 4.0, 6.0, 8.0),
) -> dict[str, Any]:
    """The ``RelevanceRule`` (floor, coverage weight, lift) tuned on ``runs`` (a dev split).

    Grid search: among rules whose declined rate reaches ``target_declined`` in every
    language, the one keeping most answerable questions (``met_target`` False: none did,
    the best compromise is returned).
    """
    import numpy as np

    n = len(runs)
    cos = np.zeros((n, top_k))
    cov = np.zeros((n, top_k))
    present = np.zeros((n, top_k), dtype=bool)
    for i, r in enumerate(runs):
        m = min(top_k, len(r.dense))
        cos[i, :m], cov[i, :m], present[i, :m] = r.dense[:m], r.lexical[:m], True
    background = np.array([r.background if r.background is not None else np.nan for r in runs])
    answerable = np.array([r.question.gold is not None for r in runs])
    languages = sorted({r.question.language for r in runs})
    by_language = [np.array([r.question.language == lang for r in runs]) for lang in languages]
    floors = np.round(np.arange(0.75, 3.0, 0.0025), 4)

    best: tuple[float, float, float, float] | None = None
    fallback: tuple[float, float, float, float] | None = None
    for weight in weights:
        for lift in lifts:
            lifted = np.nan_to_num(
                lift * (cos - background[:, None])
            )  # no background: no lift term
            score = np.where(present, cos + weight * cov + lifted, -np.inf).max(axis=1)
            kept = score[:, None] >= floors[None, :]  # questions x floors
            answered = kept[answerable].mean(axis=0) if answerable.any() else np.zeros(len(floors))
            worst = np.ones(len(floors))
            for mask in by_language:
                un = mask & ~answerable
                if un.any():
                    worst = np.minimum(worst, (~kept[un]).mean(axis=0))
            ok = worst >= target_declined
            if ok.any():
                j = int(np.argmax(np.where(ok, answered, -1.0)))
                if best is None or answered[j] > best[3]:
                    best = (float(floors[j]), weight, lift, float(answered[j]))
            j = int(np.argmax(worst + answered))
            if fallback is None or worst[j] + answered[j] > fallback[3]:
                fallback = (float(floors[j]), weight, lift, float(worst[j] + answered[j]))
    floor, weight, lift, _ = best or fallback  # type: ignore[misc]
    return {"dense": floor, "weight": weight, "lift": lift, "met_target": best is not None}


def _orphans_report(
    services,
    evalset: EvalSet,
    orphans: int,
    seed: int,
    *,
    chunk_tokens: int,
    overlap_tokens: int,
    progress: Progress | None,
) -> dict[str, Any]:
    """``orphans`` answerable questions (seeded sample) asked of the
    material without their gold passages.

    The copy is indexed as a second course, ``ORPHAN``; the report holds the share declined.
    """
    answerable = [q for q in evalset.questions if q.gold is not None]
    chosen = random.Random(seed).sample(answerable, min(orphans, len(answerable)))
    removed = {q.gold for q in chosen}
    # passage ids are primary keys: the copy's carry a prefix (orphaned questions have no gold)
    rest = EvalSet(
        [
            EvalPassage(f"orphan:{p.id}", p.text, p.language, p.group)
            for p in evalset.passages
            if p.id not in removed
        ],
        [],
    )
    orphan_id = index_eval_set(
        services,
        rest,
        "ORPHAN",
        progress=progress,
        chunk_tokens=chunk_tokens,
        overlap_tokens=overlap_tokens,
    )
    asked = [EvalQuestion(q.question, None, q.language, q.group) for q in chosen]
    orphaned = metrics(
        run_questions(services.retriever, orphan_id, asked, progress=progress),
        top_k=services.retriever.top_k,
    )
    return {
        "n": len(asked),
        "declined": orphaned.get("declined"),
        "by_language": {lang: b.get("declined") for lang, b in orphaned["by_language"].items()},
    }


def retrieval_eval(
    evalset: EvalSet,
    config: Mapping[str, Any] | None = None,
    components: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    *,
    chunk_tokens: int = 0,
    orphans: int = 0,
    seed: int = SEED,
) -> dict[str, Any]:
    """Index ``evalset`` into a fresh store (in chunks if
    ``chunk_tokens``) and report retrieval metrics.

    ``orphans`` > 0: that many answerable questions (seeded sample) are also asked of a copy
    of the material without their gold passages; ``orphans.declined`` is the share declined.
    """
    with EvalRun(dict(config or {}), dict(components or {})) as services:
        overlap = int(services.config.get("CHUNK_OVERLAP_TOKENS", 30))
        course_id = index_eval_set(
            services, evalset, progress=progress, chunk_tokens=chunk_tokens, overlap_tokens=overlap
        )
        runs = run_questions(services.retriever, course_id, evalset.questions, progress=progress)
        report = metrics(runs, top_k=services.retriever.top_k)
        report["embedder"] = getattr(services.embedder, "name", "")
        report["mode"] = services.retriever.mode
        report["reranker"] = getattr(services.retriever.reranker, "name", "none")
        report["chunk_tokens"] = chunk_tokens
        if orphans > 0:
            report["orphans"] = _orphans_report(
                services,
                evalset,
                orphans,
                seed,
                chunk_tokens=chunk_tokens,
                overlap_tokens=overlap,
                progress=progress,
            )
        return report

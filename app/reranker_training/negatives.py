"""Training groups: a question's positive chunk and its hard negatives
(BM25, e5, hybrid; no near-copies).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from app.evaluation import EvalSet, parent_id
from app.reranker_training.candidates import Asked
from app.reranker_training.data import CANDIDATES, SEED, TrainQuestion, _norm, near_copy


@dataclass(frozen=True)
class Group:
    """One training question: a positive chunk text and hard-negative chunk texts."""

    question: str
    language: str
    positive: str
    negatives: tuple[str, ...]
    negative_sources: tuple[str, ...]


def build_groups(
    asked: Sequence[Asked],
    corpus: EvalSet,
    questions: Sequence[TrainQuestion],
    negatives: int = 5,
    seed: int = SEED,
) -> tuple[list[Group], dict[str, int]]:
    """Positive = the gold paragraph's chunk with the answer; negatives
    from BM25, e5 and the hybrid.
    """
    rng = random.Random(seed)
    texts = {p.id: p.text for p in corpus.passages}
    answer = {(q.question, q.gold): q.answer for q in questions}
    stats = defaultdict(int)
    groups = []
    copies: dict[tuple[str, str], bool] = {}
    for a in asked:
        gold_text = texts[a.gold]
        ans = _norm(answer[(a.question, a.gold)]).lower()
        pos = [
            p for p in a.candidates if parent_id(p.id) == a.gold and ans in _norm(p.text).lower()
        ]
        if not pos:
            stats["no_positive_in_candidates"] += 1
            continue

        def ok(p, gold=a.gold, gold_text=gold_text) -> bool:
            parent = parent_id(p.id)
            if parent == gold:
                return False
            k = (parent, gold)
            if k not in copies:
                copies[k] = near_copy(texts[parent], gold_text)
            return not copies[k]

        chosen: dict[str, str] = {}
        for source, pool in (
            ("bm25", a.extra.get("bm25", [])),
            ("e5", a.extra.get("dense", [])),
            ("hybrid", a.candidates[:CANDIDATES]),
        ):
            pool = [p for p in pool if ok(p) and p.id not in chosen]
            take = 2 if source != "hybrid" else negatives
            for p in pool[:take]:
                if len(chosen) < negatives:
                    chosen[p.id] = source
        excluded = sum(
            1 for p in a.candidates[:CANDIDATES] if parent_id(p.id) != a.gold and not ok(p)
        )
        stats["near_copies_excluded"] += excluded
        if len(chosen) < 2:
            stats["too_few_negatives"] += 1
            continue
        by_id = {
            p.id: p for p in [*a.candidates, *a.extra.get("bm25", []), *a.extra.get("dense", [])]
        }
        ids = list(chosen)
        rng.shuffle(ids)
        groups.append(
            Group(
                a.question,
                a.language,
                rng.choice(pos).text,
                tuple(by_id[i].text for i in ids),
                tuple(chosen[i] for i in ids),
            )
        )
        for i in ids:
            stats[f"negatives_{chosen[i]}"] += 1
    stats["groups"] = len(groups)
    return groups, dict(stats)

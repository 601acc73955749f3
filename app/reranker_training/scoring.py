"""Scoring candidates with a trained cross-encoder, and the logits
kept on disk per set of weights.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path

from app.reranker_training.candidates import Asked
from app.reranker_training.data import CANDIDATES, Progress


def query_language(a: Asked) -> str:
    """The language the product sees for a question (detected, as the retriever does)."""
    from core.language import detect_language

    return detect_language(a.question)


def score_asked(
    scorer, asked: Sequence[Asked], progress: Progress | None = None, memo: dict | None = None
) -> list[list[float]]:
    """The cross-encoder's logits of every question's first :data:`CANDIDATES` chunks."""
    memo = {} if memo is None else memo
    out = []
    for i, a in enumerate(asked, 1):
        head = a.candidates[:CANDIDATES]
        todo = list(dict.fromkeys(p.text for p in head if (a.question, p.text) not in memo))
        if todo:
            for t, z in zip(todo, scorer.logits(a.question, todo, query_language(a)), strict=True):
                memo[(a.question, t)] = z
        out.append([memo[(a.question, p.text)] for p in head])
        if progress is not None:
            progress("scoring", i, len(asked))
    return out


def logits_path(cache: Path, weights_sha256: str, int8: bool) -> Path:
    """Where the logits of one set of weights are kept (the benchmark reuses the dev ones)."""
    return cache / f"logits-{weights_sha256[:16]}{'-int8' if int8 else ''}.pkl"


def save_logits(cache: Path, weights_sha256: str, int8: bool, memo: Mapping) -> None:
    """Keep the (question, text) -> logit memo of these weights on disk."""
    path = logits_path(cache, weights_sha256, int8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(dict(memo)))


def load_logits(cache: Path, weights_sha256: str, int8: bool) -> dict:
    """The memo :func:`save_logits` wrote, or an empty one."""
    path = logits_path(cache, weights_sha256, int8)
    return pickle.loads(path.read_bytes()) if path.is_file() else {}

"""The reranker's training and eval data: the splits, the SQuAD-it training paragraphs, near-copies.

Constants shared by the whole package live here (seed, bounds, candidate count).
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.evaluation import EvalPassage, EvalSet, convert_source, data_dir

SEED = 13
EVAL_SOURCES = ("xquad-en", "xquad-de", "squad-it", "norquad", "swequad-mc")
# the benchmark's bounds (bench/retrieval_eval.py, docs/retrieval.md):
# questions, passages, unanswerable
EVAL_BOUNDS: dict[str, tuple[int, int, int]] = {
    "default": (150, 250, 60),
    "swequad-mc": (10000, 600, 100),
}
CLI_BOUNDS = (300, 600, 100)  # `kateder retrieval convert`'s defaults
# per half: at most this many answerable questions (and unanswerable ones) are asked
HALF_LIMITS = (100, 50)
ORPHANS_PER_HALF = 40
CANDIDATES = 20
NEAR_COPY = 0.8  # 8-word shingle containment above which another text counts as the gold one
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TrainQuestion:
    """A training question with its gold paragraph and answer text."""

    question: str
    gold: str
    language: str
    answer: str


def _norm(text: str) -> str:
    return " ".join(text.split())


Bounds = Mapping[str, tuple[int, int, int]]


def eval_sets(root: Path | None = None, bounds: Bounds | None = None) -> dict[str, EvalSet]:
    """The benchmark's eval set of every source (:data:`EVAL_BOUNDS`, seed 13)."""
    bounds = bounds or EVAL_BOUNDS
    out = {}
    for name in EVAL_SOURCES:
        q, p, u = bounds.get(name, bounds["default"])
        out[name] = convert_source(
            name, root, max_questions=q, max_passages=p, unanswerable=u, seed=SEED
        )
    return out


def training_set(
    root: Path | None = None,
    bounds: Bounds | None = None,
    cli_bounds: tuple[int, int, int] = CLI_BOUNDS,
    max_paragraphs: int | None = None,
    seed: int = SEED,
) -> tuple[EvalSet, list[TrainQuestion], dict[str, Any]]:
    """SQuAD-it paragraphs no eval set uses (a seeded sample of
    ``max_paragraphs``), their questions and counts.
    """
    root = Path(root or data_dir())
    bounds = bounds or EVAL_BOUNDS
    used: set[str] = set()
    held_groups: set[str] = set()
    for q, p, u in (bounds.get("squad-it", bounds["default"]), cli_bounds):
        es = convert_source(
            "squad-it", root, max_questions=q, max_passages=p, unanswerable=u, seed=SEED
        )
        used |= {_norm(x.text) for x in es.passages}
        held_groups |= {x.group for x in es.questions if x.gold is None}
    xquad_ids: set[str] = set()
    for lang in ("en", "de"):
        data = json.loads((root / "xquad" / f"xquad.{lang}.json").read_text(encoding="utf-8"))
        xquad_ids |= {
            qa["id"] for a in data["data"] for para in a["paragraphs"] for qa in para["qas"]
        }
    with gzip.open(root / "squad-it" / "SQuAD_it-test.json.gz", "rt", encoding="utf-8") as fh:
        data = json.load(fh)
    passages: list[EvalPassage] = []
    questions: list[TrainQuestion] = []
    counts = {"paragraphs": 0, "in_eval_pool": 0, "held_out_article": 0, "xquad_translation": 0}
    seen: set[str] = set()
    for article in data["data"]:
        title = article.get("title") or ""
        for para in article["paragraphs"]:
            counts["paragraphs"] += 1
            key = _norm(para["context"])
            if key in used:
                counts["in_eval_pool"] += 1
                continue
            if title in held_groups:
                counts["held_out_article"] += 1
                continue
            if any(qa["id"] in xquad_ids for qa in para["qas"]):
                counts["xquad_translation"] += 1
                continue
            if key in seen:
                continue
            seen.add(key)
            pid = f"train-it:p{len(passages)}"
            passages.append(EvalPassage(pid, para["context"], "it", title))
            for qa in para["qas"]:
                answers = [a["text"] for a in qa.get("answers", []) if a.get("text")]
                if answers:
                    questions.append(
                        TrainQuestion(qa["question"], pid, "it", max(answers, key=len))
                    )
    counts["eligible_paragraphs"], counts["eligible_questions"] = len(passages), len(questions)
    if max_paragraphs is not None and max_paragraphs < len(passages):
        keep = {p.id for p in random.Random(seed).sample(passages, max_paragraphs)}
        passages = [p for p in passages if p.id in keep]
        questions = [q for q in questions if q.gold in keep]
    counts["training_paragraphs"] = len(passages)
    counts["training_questions"] = len(questions)
    return EvalSet(passages, []), questions, counts


def _shingles(text: str, n: int = 8) -> set[tuple[str, ...]]:
    w = text.lower().split()
    return {tuple(w[i : i + n]) for i in range(max(1, len(w) - n + 1))}


def near_copy(text: str, gold: str) -> bool:
    """Whether ``text`` holds at least :data:`NEAR_COPY` of ``gold``'s
    8-word shingles (or the reverse).
    """
    a, b = _shingles(text), _shingles(gold)
    if not a or not b:
        return False
    inter = len(a & b)
    return inter / len(b) >= NEAR_COPY or inter / len(a) >= NEAR_COPY

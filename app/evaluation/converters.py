"""Converters: bounded eval sets from the SQuAD-style QA files in ../shared/data/qa.

XQuAD en/de, SQuAD-it, NorQuAD and SweQUAD-MC (its training split) become the eval format
(:mod:`app.evaluation.sets`) with a fixed seed and bounded sizes; the data is read where it
lies, never copied.
"""

from __future__ import annotations

import gzip
import json
import os
import random
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from app.evaluation.sets import SEED, EvalPassage, EvalQuestion, EvalSet


def data_dir() -> Path:
    """``KATEDER_EVAL_DATA`` or ../shared/data/qa beside the checkout."""
    env = os.environ.get("KATEDER_EVAL_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "qa"


def _read_json(path: Path) -> Any:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def _squad_rows(data: Mapping[str, Any]) -> Iterable[tuple[str, str, list[str]]]:
    """(group, context, questions) per paragraph of a SQuAD-style file."""
    for i, article in enumerate(data["data"]):
        for para in article["paragraphs"]:
            group = article.get("title") or ""
            if not group:  # NorQuAD: one entry per question; group by source document
                answers = [a for qa in para["qas"] for a in qa.get("answers", [])]
                group = (
                    f"doc{answers[0]['document_id']}"
                    if answers and "document_id" in answers[0]
                    else f"a{i}"
                )
            questions = [qa["question"] for qa in para["qas"] if not qa.get("is_impossible")]
            yield group, para["context"], questions


def convert_squad(
    path: str | os.PathLike[str],
    language: str,
    *,
    prefix: str = "",
    max_questions: int = 300,
    max_passages: int = 600,
    unanswerable: int = 100,
    held_out_share: float = 0.15,
    seed: int = SEED,
    rows: Callable[[Mapping[str, Any]], Iterable[tuple[str, str, list[str]]]] = _squad_rows,
) -> EvalSet:
    """A bounded eval set from a SQuAD-style file (XQuAD, SQuAD-it, NorQuAD; others by ``rows``).

    A share of the groups (articles) is held out: their passages are left out and up to
    ``unanswerable`` of their questions get ``gold = None``. From the rest, up to
    ``max_questions`` questions are sampled; the passage pool holds their gold passages
    plus random others up to ``max_passages``.
    """
    rng = random.Random(seed)
    by_context: dict[str, tuple[str, str, list[str]]] = {}
    texts: dict[str, str] = {}  # whitespace-normalised key -> the text as first seen
    for group, context, asked in rows(_read_json(Path(path))):
        key = " ".join(context.split())  # the same text up to whitespace is the same passage
        if key in by_context:
            by_context[key][2].extend(asked)
        else:
            by_context[key] = (f"{prefix}p{len(by_context)}", group, list(asked))
            texts[key] = context
    groups = sorted({g for _, g, _ in by_context.values()})
    rng.shuffle(groups)
    held = set(groups[: max(1, round(len(groups) * held_out_share))]) if unanswerable else set()

    kept = [(pid, g, texts[key], qs) for key, (pid, g, qs) in by_context.items() if g not in held]
    pool_q = [(q, pid, g) for pid, g, _, qs in kept for q in qs]
    chosen = rng.sample(pool_q, min(max_questions, len(pool_q)))
    gold_ids = {pid for _, pid, _ in chosen}
    others = [k for k in kept if k[0] not in gold_ids]
    rng.shuffle(others)
    room = max(0, max_passages - len(gold_ids))
    passages = [EvalPassage(pid, ctx, language, g) for pid, g, ctx, _ in kept if pid in gold_ids]
    passages += [EvalPassage(pid, ctx, language, g) for pid, g, ctx, _ in others[:room]]
    questions = [EvalQuestion(q, pid, language, g) for q, pid, g in chosen]
    held_q = [(q, g) for ctx, (_, g, qs) in by_context.items() if g in held for q in qs]
    for q, g in rng.sample(held_q, min(unanswerable, len(held_q))):
        questions.append(EvalQuestion(q, None, language, g))
    return EvalSet(passages, questions)


def _swequad_rows(data: Mapping[str, Any]) -> Iterable[tuple[str, str, list[str]]]:
    """(group, context, questions) per row of SweQUAD-MC, grouped by the text's title line."""
    for row in data["data"]:
        yield row["context"].split("\n", 1)[0].strip()[:200], row["context"], [row["question"]]


SOURCES: dict[str, tuple[str, str]] = {
    "xquad-en": ("xquad/xquad.en.json", "en"),
    "xquad-de": ("xquad/xquad.de.json", "de"),
    "squad-it": ("squad-it/SQuAD_it-test.json.gz", "it"),
    "norquad": ("norquad/validation_dataset_flattened.json", "nb"),
    # the training split only: SweQUAD-MC's dev and test splits are independent test data
    "swequad-mc": ("swequad-mc/training.json", "sv"),
}
# sources that are not SQuAD-style, with their row readers
ROW_READERS: dict[str, Callable[[Mapping[str, Any]], Iterable[tuple[str, str, list[str]]]]] = {
    "swequad-mc": _swequad_rows
}
# sources whose dev/test halves are split by passage (all questions of a text on one side)
SPLIT_BY_PASSAGE = frozenset({"swequad-mc"})


def convert_source(name: str, root: str | os.PathLike[str] | None = None, **kwargs: Any) -> EvalSet:
    """Convert one of :data:`SOURCES` (a file under ``root``, default :func:`data_dir`)."""
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; choose one of {sorted(SOURCES)}")
    rel, language = SOURCES[name]
    path = Path(root or data_dir()) / rel
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; set KATEDER_EVAL_DATA to the qa folder")
    return convert_squad(
        path, language, prefix=f"{name}:", rows=ROW_READERS.get(name, _squad_rows), **kwargs
    )

"""The evaluation harness: labelled JSONL in, precision/recall/F1/FPR and latency out.

Input: one JSON object a line with ``text``, ``label`` (``safe``/``unsafe``), ``language``,
``role`` (``user``/``agent``) and optional ``categories`` and ``source``. A prediction is
"unsafe" when the verdict is not safe (errors count as unsafe: the guard fails closed).
Latency is measured on single-message calls, as the app makes them.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from guard.training.datasets import Example
from guard.types import Guard, Message, Role, Verdict


def read_jsonl(path: str | Path) -> list[Example]:
    """Examples from an evaluation JSONL file."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            out.append(
                Example(
                    row["text"],
                    row["label"],
                    row.get("language", "en"),
                    row.get("role", "user"),
                    tuple(row.get("categories") or ()),
                    row.get("source", ""),
                    row.get("split", "test"),
                )
            )
    return out


def metrics(pairs: Iterable[tuple[bool, bool]]) -> dict[str, Any]:
    """Precision, recall, F1 and FPR from ``(is_unsafe, predicted_unsafe)`` pairs."""
    tp = fp = tn = fn = 0
    for gold, pred in pairs:
        if gold and pred:
            tp += 1
        elif gold:
            fn += 1
        elif pred:
            fp += 1
        else:
            tn += 1
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall
        else None
    )
    fpr = fp / (fp + tn) if fp + tn else None

    def r(x: float | None) -> float | None:
        return None if x is None else round(x, 4)

    return {
        "precision": r(precision),
        "recall": r(recall),
        "f1": r(f1),
        "fpr": r(fpr),
        "n": tp + fp + tn + fn,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def classify_all(guard: Guard, examples: Sequence[Example], batch_size: int = 32) -> list[Verdict]:
    """Verdicts for every example (batched when the backend offers ``classify_many``)."""
    many = getattr(guard, "classify_many", None)
    out: list[Verdict | None] = [None] * len(examples)
    for role in ("user", "agent"):  # course material ("passage" rows) is checked as "agent"
        idx = sorted(
            (i for i, ex in enumerate(examples) if (ex.role == "user") == (role == "user")),
            key=lambda i: len(examples[i].text),
        )
        for b in range(0, len(idx), batch_size):
            chunk = idx[b : b + batch_size]
            convs = [[Message(role, examples[i].text)] for i in chunk]
            got = many(convs, role=role) if many else [guard.classify(c, role=role) for c in convs]
            for i, verdict in zip(chunk, got, strict=True):
                out[i] = verdict
    return out  # type: ignore[return-value]


def guard_role(example: Example) -> Role:
    """The role an example is checked as: course material ("passage" rows) as ``"agent"``."""
    return "user" if example.role == "user" else "agent"


def latency(
    guard: Guard, examples: Sequence[Example], n: int = 100, seed: int = 0
) -> dict[str, float]:
    """p50/p95 milliseconds of single-message ``classify`` calls on a sample."""
    if not examples:
        return {"p50": 0.0, "p95": 0.0, "n": 0}
    sample = random.Random(seed).sample(list(examples), min(n, len(examples)))
    warm_up = guard_role(sample[0])
    guard.classify([Message(warm_up, sample[0].text)], role=warm_up)  # warm-up
    times = []
    for ex in sample:
        role = guard_role(ex)
        start = time.perf_counter()
        guard.classify([Message(role, ex.text)], role=role)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return {"p50": round(statistics.median(times), 2), "p95": round(p95, 2), "n": len(times)}


def evaluate(
    guard: Guard, examples: Sequence[Example], latency_samples: int = 100
) -> dict[str, Any]:
    """The harness report: overall, ``by_language``, ``by_category``, ``by_source``, latency."""
    verdicts = classify_all(guard, examples)
    pairs = [(ex.label == "unsafe", not v.safe) for ex, v in zip(examples, verdicts, strict=True)]
    by_lang: dict[str, list] = defaultdict(list)
    by_cat: dict[str, list] = defaultdict(list)
    by_source: dict[str, list] = defaultdict(list)
    for ex, pair in zip(examples, pairs, strict=True):
        by_lang[ex.language].append(pair)
        by_source[ex.source or "?"].append(pair)
        for cat in ex.categories:
            by_cat[cat].append(pair)
    report = metrics(pairs)
    report["errors"] = sum(1 for v in verdicts if v.error)
    report["by_language"] = {k: metrics(v) for k, v in sorted(by_lang.items())}
    report["by_category"] = {
        k: metrics(v)
        for k, v in sorted(
            by_cat.items(), key=lambda kv: int(kv[0][1:]) if kv[0][1:].isdigit() else 99
        )
    }
    report["by_source"] = {k: metrics(v) for k, v in sorted(by_source.items())}
    report["latency_ms"] = latency(guard, examples, latency_samples) if latency_samples else {}
    report["backend"] = getattr(guard, "name", "?")
    return report

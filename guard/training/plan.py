"""The source plan: which source trains, chooses (dev) or tests, how much it weighs, and
what each example teaches (the targets of its logits)."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Sequence

from guard.embedded import CODES
from guard.training.datasets import PACKAGE_DATA, PROJECT_SOURCES, Example

LANGS = ("en", "sv", "nb", "de", "it")
INJECTION = "injection"


def load_plan(name: str = "sources.json") -> dict[str, dict]:
    """The source plan: ``source -> {"role", "weight"}``."""
    plan = json.loads((PACKAGE_DATA / name).read_text(encoding="utf-8"))
    return {k: v for k, v in plan.items() if not k.startswith("_")}


def _entry(ex: Example, plan: dict[str, dict]) -> dict:
    base = ex.origin.split(":", 1)[1] if ex.origin.startswith("translated:") else ex.source
    entry = plan.get(base) or plan.get(ex.source)
    if entry is None:
        raise ValueError(f"source {ex.source!r} is missing from the source plan")
    return entry


def role_of(ex: Example, plan: dict[str, dict]) -> str:
    """``train``, ``dev`` or ``test`` for the source (a translation follows its original)."""
    return _entry(ex, plan)["role"]


def partition(
    examples: Sequence[Example], plan: dict[str, dict]
) -> tuple[list[Example], list[Example], list[Example]]:
    """``(train, dev, test)``: held-out sources whole, the rest by their own split.

    A plan entry's optional ``train_labels`` (e.g. ``["unsafe"]``) keeps only those labels
    of the source's train split in training, so a source of minimal pairs can teach its
    harmful side alone; its dev and test splits stay whole.
    """
    parts: dict[str, list[Example]] = {"train": [], "dev": [], "test": []}
    for ex in examples:
        entry = _entry(ex, plan)
        role = entry["role"]
        if role == "train":
            if ex.split == "train" and ex.label not in entry.get("train_labels", (ex.label,)):
                continue
            parts[ex.split].append(ex)
        elif role == "dev":
            parts["test" if ex.split == "test" else "dev"].append(ex)
        else:
            parts["test"].append(ex)
    return parts["train"], parts["dev"], parts["test"]


def eval_group(ex: Example) -> str:
    """The evaluation group of a held-out example: source, language for multilingual ones."""
    if ex.source in (*PROJECT_SOURCES, "multijail", "rtp-lx", "hatecheck"):
        return f"{ex.source}-{ex.language}"
    return ex.source


def is_injection(ex: Example) -> bool:
    """Rows of the prompt-injection phenomena (question or course material)."""
    return ex.phenomenon.endswith(INJECTION)


def targets(ex: Example) -> tuple[float, float, list[float], float, float, float]:
    """``(unsafe, unsafe_mask, categories, categories_mask, injection, injection_mask)``.

    Injection rows teach only the injection logit; jailbreak-wrapped rows only the unsafe
    logit (their wrappers may or may not be injections).
    """
    unsafe = 1.0 if ex.label == "unsafe" else 0.0
    cats = [1.0 if c in ex.categories else 0.0 for c in CODES]
    if is_injection(ex):
        return 0.0, 0.0, cats, 0.0, unsafe, 1.0
    known = 1.0 if (unsafe and ex.categories) else 0.0
    inj_mask = 0.0 if ex.phenomenon.startswith("jb-") else 1.0
    return unsafe, 1.0, cats, known, 0.0, inj_mask


def groups_of(train_set: Sequence[Example], plan: dict[str, dict]) -> tuple[list, list[float]]:
    """Sampling units (a minimal pair together, else one row) and their weights."""
    by_pair: dict[str, list[int]] = defaultdict(list)
    units: list[list[int]] = []
    for i, ex in enumerate(train_set):
        if ex.pair_id:
            by_pair[ex.pair_id].append(i)
        else:
            units.append([i])
    units.extend(by_pair[k] for k in sorted(by_pair))
    size = Counter(ex.source for ex in train_set)

    def row_weight(ex: Example) -> float:
        w = plan.get(ex.source, {}).get("weight", 1.0)
        return w * math.sqrt(size[ex.source]) / size[ex.source]

    return units, [sum(row_weight(train_set[i]) for i in unit) for unit in units]

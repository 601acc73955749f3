"""Scoring a guard on labelled rows: AUROC, thresholds at a false-positive rate, the dev
report that draws the learning curve, and the per-language calibration."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from guard.training.config import TrainConfig
from guard.training.datasets import Example
from guard.training.plan import LANGS, eval_group, is_injection, load_plan


def auroc(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    """Area under the ROC curve (ties count half); ``None`` without both classes."""
    pos = sum(labels)
    neg = len(labels) - pos
    if not pos or not neg:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    ranks = [0.0] * len(scores)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and scores[order[j + 1]] == scores[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    rank_sum = sum(r for r, y in zip(ranks, labels, strict=True) if y)
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg)


def threshold_at_fpr(scores: Sequence[float], labels: Sequence[int], target: float) -> float:
    """Smallest threshold whose false-positive rate on ``labels == 0`` is at most ``target``."""
    negatives = sorted((s for s, y in zip(scores, labels, strict=True) if y == 0), reverse=True)
    if not negatives:
        return 0.5
    k = int(target * len(negatives))
    return float(min(0.995, max(0.02, negatives[min(k, len(negatives) - 1)] + 1e-6)))


def dev_report(dev: Sequence[Example], probs: Sequence) -> dict:
    """Per evaluation group: AUROC of the unsafe (or injection) score, and the mean."""
    by: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    for ex, (p_unsafe, p_inj) in zip(dev, probs, strict=True):
        name = eval_group(ex) + ("/injection" if is_injection(ex) else "")
        s, y = by[name]
        s.append(p_inj if is_injection(ex) else p_unsafe)
        y.append(1 if ex.label == "unsafe" else 0)
    lang: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    for ex, (p_unsafe, _) in zip(dev, probs, strict=True):
        if not is_injection(ex):
            lang[ex.language][0].append(p_unsafe)
            lang[ex.language][1].append(1 if ex.label == "unsafe" else 0)
    groups = {k: auroc(s, y) for k, (s, y) in sorted(by.items())}
    languages = {k: auroc(s, y) for k, (s, y) in sorted(lang.items())}
    valid = [v for v in groups.values() if v is not None]
    valid_lang = [v for v in languages.values() if v is not None]
    means = [sum(v) / len(v) for v in (valid, valid_lang) if v]
    return {
        # model choice: per-source and per-language AUROC weigh the same
        "mean_auroc": round(sum(means) / len(means), 4) if means else None,
        "languages": {k: None if v is None else round(v, 4) for k, v in languages.items()},
        "groups": {k: None if v is None else round(v, 4) for k, v in groups.items()},
    }


def calibrate(dev: Sequence[Example], probs: Sequence, config: TrainConfig) -> dict:
    """Per-language thresholds and care bands chosen on dev data (plus a pooled default).

    The block threshold is the lowest one that keeps, on dev, the false-positive rate of the
    look-alike sources at ``target_fpr``, of the toxicity sources at ``toxicity_fpr`` and of
    ordinary student questions at ``qa_fpr``; the care band likewise at the care rates.
    """
    from core.language import detect_language

    plan = load_plan(config.sources)
    toxic_sources = {k for k, v in plan.items() if v.get("calibration") == "toxicity"}
    # per language: positives, look-alike negatives, toxicity negatives, student questions
    per: dict[str, tuple[list, list, list, list]] = defaultdict(lambda: ([], [], [], []))
    for ex, (p, _) in zip(dev, probs, strict=True):
        if is_injection(ex) or ex.role != "user":
            continue
        lang = ex.language if ex.language in LANGS else detect_language(ex.text)
        for key in (lang, "default"):
            pos, look, toxic, qa = per[key]
            if ex.source.startswith("qa-"):
                qa.append(p)
            elif ex.label == "unsafe":
                pos.append(p)
            else:
                (toxic if ex.source in toxic_sources else look).append(p)

    def cut(negatives: list[float], fpr: float) -> float:
        return threshold_at_fpr(negatives, [0] * len(negatives), fpr) if negatives else 0.0

    out: dict[str, dict] = {}
    for lang, (pos, look, toxic, qa) in sorted(per.items()):
        block = max(
            cut(look, config.target_fpr), cut(toxic, config.toxicity_fpr), cut(qa, config.qa_fpr)
        )
        care = max(cut(look, config.care_fpr), cut(toxic, config.toxicity_care_fpr), cut(qa, 0.02))
        neg = look + toxic
        out[lang] = {
            "threshold": round(block, 4),
            "care_threshold": round(min(care, block), 4),
            "dev_recall": round(sum(s >= block for s in pos) / max(len(pos), 1), 4),
            "dev_fpr": round(sum(s >= block for s in neg) / max(len(neg), 1), 4),
            "dev_lookalike_fpr": round(sum(s >= block for s in look) / max(len(look), 1), 4),
            "dev_toxicity_fpr": round(sum(s >= block for s in toxic) / max(len(toxic), 1), 4),
            "dev_qa_blocked": round(sum(s >= block for s in qa) / max(len(qa), 1), 4),
            "n": len(pos) + len(neg) + len(qa),
        }
    inj = [
        (p, 1 if ex.label == "unsafe" else 0)
        for ex, (_, p) in zip(dev, probs, strict=True)
        if is_injection(ex)
    ]
    out["injection"] = {
        "threshold": round(threshold_at_fpr([s for s, _ in inj], [y for _, y in inj], 0.02), 4)
        if inj
        else 0.5
    }
    return out

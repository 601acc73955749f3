"""Per-language calibration of the cross-encoder's logits on the
dev questions, and its thresholds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from app.evaluation import parent_id
from app.reranker import features
from app.reranker_training.candidates import Asked
from app.reranker_training.data import CANDIDATES
from app.reranker_training.scoring import query_language


def _fit_logistic(x, y, prior_w=None, prior_b: float = 0.0, l2: float = 1.0, iters: int = 50):
    """Logistic regression by Newton's method with an L2 pull towards ``prior``."""
    import numpy as np

    n, d = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    prior = np.zeros(d + 1) if prior_w is None else np.append(prior_w, prior_b)
    w = prior.copy()
    reg = np.full(d + 1, l2)
    reg[-1] = l2 * 1e-3
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(xb @ w, -60, 60)))
        grad = xb.T @ (p - y) + reg * (w - prior)
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    return w[:-1], float(w[-1])


def calibrate(
    asked: Sequence[Asked],
    logits: Sequence[Sequence[float]],
    target_declined: float = 0.95,
    l2: float = 1.0,
) -> dict[str, Any]:
    """Per-language logistic calibration on dev candidates and the threshold per language.

    Threshold: the highest answered share of answerable questions among thresholds that
    decline at least ``target_declined`` of the unanswerable and orphaned ones.
    """
    import numpy as np

    langs = [query_language(a) for a in asked]  # the product calibrates by detected language
    rows = defaultdict(list)
    for a, lang, zs in zip(asked, langs, logits, strict=True):
        for p, z in zip(a.candidates[:CANDIDATES], zs, strict=True):
            rows[lang].append(
                (features(z, p), float(a.gold is not None and parent_id(p.id) == a.gold))
            )
    all_x = np.array([r[0] for rs in rows.values() for r in rs])
    all_y = np.array([r[1] for rs in rows.values() for r in rs])
    pooled_w, pooled_b = _fit_logistic(all_x, all_y, l2=l2)
    out: dict[str, Any] = {}
    for lang in [*sorted(rows), "default"]:
        if lang == "default":
            w, b, qs = pooled_w, pooled_b, list(zip(asked, logits, strict=True))
        else:
            x = np.array([r[0] for r in rows[lang]])
            y = np.array([r[1] for r in rows[lang]])
            w, b = _fit_logistic(x, y, pooled_w, pooled_b, l2=l2 * 10)
            qs = [(a, z) for a, la, z in zip(asked, langs, logits, strict=True) if la == lang]
        top = []
        for a, zs in qs:
            ps = [
                1 / (1 + np.exp(-(b + float(np.dot(w, features(z, p))))))
                for p, z in zip(a.candidates[:CANDIDATES], zs, strict=True)
            ]
            top.append((max(ps) if ps else 0.0, a.gold is not None))
        pos = np.array([t for t, ok in top if ok])
        neg = np.array([t for t, ok in top if not ok])
        grid = np.unique(np.concatenate([pos, neg, [0.5]]))
        best = None
        for t in grid:
            declined = float((neg < t).mean()) if len(neg) else 1.0
            answered = float((pos >= t).mean()) if len(pos) else 0.0
            # most answered; on a tie most declined; then the lowest such threshold
            if declined >= target_declined and (
                best is None or (answered, declined) > (best[1], best[2])
            ):
                best = (float(t), answered, declined)
        if (
            best is None
        ):  # no threshold reaches the target: the one that declines most answerable-kept
            t = float(np.max(neg)) + 1e-6 if len(neg) else 0.5
            best = (t, float((pos >= t).mean()) if len(pos) else 0.0, 1.0)
        # midpoint to the next lower score keeps the same dev decisions with a margin
        below = [s for s in np.concatenate([pos, neg]) if s < best[0]]
        threshold = (best[0] + max(below)) / 2 if below else best[0]
        out[lang] = {
            "weights": [round(float(v), 6) for v in w],
            "bias": round(float(b), 6),
            "threshold": round(float(threshold), 6),
            "dev_answered": round(best[1], 4),
            "dev_declined": round(best[2], 4),
            "dev_questions": len(pos),
            "dev_unanswerable": len(neg),
        }
    return out

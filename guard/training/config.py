"""The hyper-parameters of one guard training run (the defaults produced the shipped weights)."""

from __future__ import annotations

from dataclasses import dataclass


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

"""Ablations of the guard v2 recipe, judged on the held-out dev sources only.

Usage: ``python bench/guard_ablation.py [--samples 40000] [--variants full,no-hate,no-margin]``

Each variant is a shorter run of ``guard.training.train.train`` (same seed, same data plan) that
differs in one choice. The figures are the dev AUROC of the run's best checkpoint, per
language and per dev source group, so the choice is made on data no variant trained on;
the test sources are not looked at. Writes bench/results/guard_ablation.json and prints a
markdown table (copied into docs/guard.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from guard.training.datasets import load_all  # noqa: E402
from guard.training.train import TrainConfig, train  # noqa: E402

HATE = ("hatecheck-en", "hatecheck-de", "hatecheck-it", "gahd", "toxigen", "dkhate")
VARIANTS = {
    "full": {},
    "no-hate": {"exclude": HATE},
    "no-margin": {"margin_weight": 0.0},
    "no-translations": {"exclude": ("translated",)},
    "depth-6": {"depth": 6},
}


def main() -> None:
    """Run the variants one after another and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=40_000)
    parser.add_argument("--variants", default="full,no-hate,no-margin")
    args = parser.parse_args()
    examples = load_all()
    out = ROOT / "bench" / "results" / "guard_ablation.json"
    results = json.loads(out.read_text()) if out.exists() else {}
    for name in args.variants.split(","):
        config = replace(TrainConfig(), samples=args.samples, **VARIANTS[name])
        t0 = time.time()
        with tempfile.TemporaryDirectory() as tmp:
            meta = train(
                config, Path(tmp), log=lambda m: print(m, file=sys.stderr), examples=examples
            )
        best = next(p for p in meta["learning_curve"] if p["step"] == meta["best_step"])
        results[name] = {
            "samples": args.samples,
            "changes": {
                k: list(v) if isinstance(v, tuple) else v for k, v in VARIANTS[name].items()
            },
            "mean_auroc": best["mean_auroc"],
            "languages": best["languages"],
            "groups": best["groups"],
            "dev_calibration": meta["languages"],
            "minutes": round((time.time() - t0) / 60, 1),
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1) + "\n")
        print(f"{name}: mean dev AUROC {best['mean_auroc']}", file=sys.stderr)
    langs = ("en", "sv", "nb", "de", "it", "da")
    print(
        "| variant | samples | mean dev AUROC | mean over non-hate-suite groups | "
        + " | ".join(langs)
        + " |"
    )
    print("|---|---:|---:|---:|" + "---:|" * len(langs))
    for name, r in results.items():
        other = [v for k, v in r["groups"].items() if v is not None and not k.startswith(HATE)]
        cells = " | ".join(f"{r['languages'].get(lang) or 0:.3f}" for lang in langs)
        print(
            f"| {name} | {r['samples']} | {r['mean_auroc']:.3f} | "
            f"{sum(other) / len(other):.3f} | {cells} |"
        )


if __name__ == "__main__":
    main()

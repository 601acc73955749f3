"""``kateder guard ...``: train, evaluate, classify, convert data.

The app's CLI adds :data:`guard_group` with ``main.add_command(guard_group)``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

guard_group = click.Group("guard", help="Safety guard: train, evaluate and try the classifier.")


def _config(backend: str | None) -> dict:
    return {"GUARD_BACKEND": backend} if backend else {}


@guard_group.command("train")
@click.option("--seed", type=int, default=None, help="Random seed (default: the shipped one).")
@click.option("--samples", type=int, default=None, help="Training samples to draw (run length).")
@click.option(
    "--depth", type=int, default=None, help="Encoder layers to keep and fine-tune (12 = all)."
)
@click.option("--device", default=None, help="cpu (default) or cuda.")
@click.option("--max-minutes", type=float, default=None, help="Wall-time budget for the whole run.")
@click.option("--exclude", multiple=True, help="Leave a source out of training (ablation).")
@click.option("--margin-weight", type=float, default=None, help="Weight of the pairwise loss.")
@click.option(
    "--plan",
    "plan_name",
    default=None,
    help="Source plan under guard/data (default: sources.json, the shipped recipe).",
)
@click.option("--smoke", is_flag=True, help="A tiny run on a small sample (CI).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write guard-e5.safetensors/.json (default: guard/weights).",
)
def train_command(
    seed, samples, depth, device, max_minutes, exclude, margin_weight, plan_name, smoke, out_dir
):
    """Fine-tune the embedded classifier on guard/data/sources.json's plan (seeded)."""
    from dataclasses import replace

    from guard.embedded import WEIGHTS_DIR
    from guard.training.train import TrainConfig, smoke_config, train

    changes = {
        k: v
        for k, v in {
            "seed": seed,
            "samples": samples,
            "depth": depth,
            "device": device,
            "max_minutes": max_minutes,
            "exclude": tuple(exclude) or None,
            "margin_weight": margin_weight,
            "sources": plan_name,
        }.items()
        if v is not None
    }
    cfg = smoke_config() if smoke else TrainConfig()
    examples = None
    if smoke:
        from guard.training.train import smoke_examples

        examples = smoke_examples()
    meta = train(
        replace(cfg, **changes),
        out_dir or WEIGHTS_DIR,
        log=lambda m: click.echo(m, err=True),
        examples=examples,
    )
    click.echo(
        json.dumps(
            {k: meta[k] for k in ("model", "threshold", "care_threshold", "languages")}, indent=2
        )
    )


@guard_group.command("calibrate")
@click.option(
    "--weights",
    "weights_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Weights directory (default: guard/weights).",
)
@click.option(
    "--int8/--no-int8", default=False, help="Calibrate for int8 inference (default: fp32)."
)
def calibrate_command(weights_dir, int8):
    """Re-choose the per-language thresholds of trained weights on the dev sources."""
    from guard.embedded import WEIGHTS_DIR
    from guard.training.train import recalibrate

    meta = recalibrate(weights_dir or WEIGHTS_DIR, int8=int8, log=lambda m: click.echo(m, err=True))
    click.echo(json.dumps({k: meta[k] for k in ("int8", "threshold", "languages")}, indent=2))


@guard_group.command("build-data")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("guard-build"),
    show_default=True,
)
@click.option("--card", is_flag=True, help="Also rewrite the counts in docs/guard-data-card.md.")
def build_data_command(out_dir, card):
    """Assemble train/dev/test from every source (the plan in guard/data/sources.json)."""
    from guard.training.corpus import build, write_card

    counts = build(out_dir, log=lambda m: click.echo(m, err=True))
    if card:
        write_card(counts)
    click.echo(json.dumps({k: sum(v.values()) for k, v in counts["by_part"].items()}))


@guard_group.command("eval")
@click.option("--data", "data_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--backend", default=None, help="Guard backend (default: GUARD_BACKEND or embedded).")
@click.option("--latency-samples", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
def eval_command(data_path, backend, latency_samples, as_json):
    """Evaluate a backend on a labelled JSONL file."""
    from guard import build_guard
    from guard.training.evaluate import evaluate, read_jsonl

    report = evaluate(build_guard(_config(backend)), read_jsonl(data_path), latency_samples)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(
        f"{report['backend']}: n={report['n']} precision={report['precision']} "
        f"recall={report['recall']} f1={report['f1']} fpr={report['fpr']} "
        f"p95={report['latency_ms'].get('p95')} ms"
    )
    for lang, m in report["by_language"].items():
        click.echo(f"  {lang}: n={m['n']} recall={m['recall']} fpr={m['fpr']}")


@guard_group.command("classify")
@click.option("--role", type=click.Choice(["user", "agent"]), default="user", show_default=True)
@click.option("--backend", default=None)
@click.option("--json", "as_json", is_flag=True)
@click.argument("text")
def classify_command(role, backend, as_json, text):
    """Classify one message and print the verdict."""
    from guard import Message, build_guard

    verdict = build_guard(_config(backend)).classify([Message(role, text)], role=role)
    if as_json:
        click.echo(json.dumps({**verdict.to_dict(), "latency_ms": round(verdict.latency_ms, 2)}))
    else:
        state = "safe" if verdict.safe else "unsafe " + ",".join(verdict.categories)
        click.echo(f"{state} (score {verdict.score:.3f}, {verdict.backend})")
    if verdict.error:
        sys.exit(2)


@guard_group.command("convert-data")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("guard-eval"),
    show_default=True,
)
@click.option(
    "--split", type=click.Choice(["train", "dev", "test", "all"]), default="test", show_default=True
)
@click.option("--source", "sources", multiple=True, help="Only these sets (repeatable).")
def convert_data_command(out_dir, split, sources):
    """Convert ../shared/data/safety (and qa questions) into evaluation JSONL files."""
    from guard.training.datasets import SHARED_READERS, handwritten_test, shared_data_dir

    root = shared_data_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, reader in SHARED_READERS.items():
        if sources and name not in sources:
            continue
        rows = [ex.to_json() for ex in reader(root) if split == "all" or ex.split == split]
        path = out_dir / f"{name}.{split}.jsonl"
        path.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
        click.echo(f"{path}: {len(rows)}")
    if not sources or "handwritten" in sources:
        path = out_dir / "handwritten.test.jsonl"
        rows = [ex.to_json() for ex in handwritten_test()]
        path.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
        click.echo(f"{path}: {len(rows)}")

"""``kateder retrieval ...`` and ``kateder answer ...``: the
evaluation harness on the command line.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from app.cli.common import ProgressBars


def _load(path: Path):
    from app.evaluation import EvalSet

    try:
        return EvalSet.load(path)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{path}: {exc}") from None


def _config(reranker: str | None = None) -> dict:
    from app.config import load_config

    cfg = load_config()
    out = {k: v for k, v in cfg.items() if k not in ("HOME", "DATABASE_URL")}
    if reranker is not None:
        out["RETRIEVAL_RERANKER"] = reranker
    return out


RERANKER_OPTION = click.option(
    "--reranker",
    type=click.Choice(["none", "e5-cross"]),
    default=None,
    help="Override RETRIEVAL_RERANKER for this run (default: the configured one).",
)


def _print(report: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    for lang, b in [("all", report), *report.get("by_language", {}).items()]:
        fields = ", ".join(
            f"{k}={v}" for k, v in b.items() if k != "by_language" and not isinstance(v, dict)
        )
        click.echo(f"{lang:4} {fields}")


@click.group("retrieval")
def retrieval_group() -> None:
    """Measure retrieval on a QA set (hit@1, hit@5, MRR@10, declines)."""


@retrieval_group.command("eval")
@click.option(
    "--data",
    "data",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Eval file (passages + questions).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--chunk-tokens",
    type=click.IntRange(min=0),
    default=None,
    help=(
        "Split passages as ingestion does, into chunks of this many tokens "
        "(0: keep them whole; default: CHUNK_TOKENS)."
    ),
)
@RERANKER_OPTION
@click.option(
    "--orphans",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help=(
        "Also ask this many answerable questions of the material without their gold passage "
        "(they should be declined)."
    ),
)
def retrieval_eval_cmd(
    data: Path, as_json: bool, chunk_tokens: int | None, reranker: str | None, orphans: int
) -> None:
    """Index the passages into a fresh temporary store and rank every question."""
    from app.evaluation import retrieval_eval

    config = _config(reranker)
    chunks = int(config.get("CHUNK_TOKENS", 200)) if chunk_tokens is None else chunk_tokens
    with ProgressBars() as bars:
        report = retrieval_eval(
            _load(data), config, progress=bars, chunk_tokens=chunks, orphans=orphans
        )
    _print(report, as_json)


DATA_DIR_OPTION = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The qa folder (default ../shared/data/qa).",
)


@retrieval_group.command("convert")
@click.option(
    "--source",
    type=click.Choice(["xquad-en", "xquad-de", "squad-it", "norquad", "swequad-mc"]),
    multiple=True,
    required=True,
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the eval file.",
)
@DATA_DIR_OPTION
@click.option("--max-questions", default=300, show_default=True)
@click.option("--max-passages", default=600, show_default=True)
@click.option(
    "--unanswerable",
    default=100,
    show_default=True,
    help="Questions of held-out articles (gold null).",
)
@click.option("--seed", default=13, show_default=True)
def retrieval_convert_cmd(
    source, out: Path, data_dir, max_questions: int, max_passages: int, unanswerable: int, seed: int
) -> None:
    """Convert XQuAD / SQuAD-it / NorQuAD / SweQUAD-MC (training split)
    into the eval format (bounded, fixed seed).
    """
    from app.evaluation import convert_source, merge

    try:
        sets = [
            convert_source(
                s,
                data_dir,
                max_questions=max_questions,
                max_passages=max_passages,
                unanswerable=unanswerable,
                seed=seed,
            )
            for s in source
        ]
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    merged = merge(sets)
    merged.save(out)
    click.echo(
        f"{out}: {len(merged.passages)} passages, {len(merged.questions)} questions", err=True
    )


@click.group("answer")
def answer_group() -> None:
    """Measure answers end to end (citations, declines)."""


@answer_group.command("eval")
@click.option("--data", "data", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--limit", default=50, show_default=True, help="Questions to ask (sampled with a fixed seed)."
)
@click.option("--json", "as_json", is_flag=True)
@RERANKER_OPTION
def answer_eval_cmd(data: Path, limit: int, as_json: bool, reranker: str | None) -> None:
    """Ask questions through the full pipeline: how often the gold
    passage is cited, how often unanswerable ones are declined.
    """
    from app.evaluation import answer_eval

    with ProgressBars() as bars:
        report = answer_eval(_load(data), _config(reranker), limit=limit, progress=bars)
    _print(report, as_json)
    sys.stdout.flush()


def _options(*options: Callable[[Callable], Callable]) -> Callable[[Callable], Callable]:
    """One decorator for several click options, listed in the order ``--help`` shows them."""

    def apply(command: Callable) -> Callable:
        for option in reversed(options):
            command = option(command)
        return command

    return apply


# the recipe of `kateder retrieval train-reranker`: each passed to train_reranker by its name
TRAINING_OPTIONS = _options(
    click.option("--seed", default=13, show_default=True),
    click.option(
        "--depth",
        default=3,
        show_default=True,
        help="e5 layers in the cross-encoder (from the bottom).",
    ),
    click.option(
        "--max-length", default=96, show_default=True, help="Tokens per question + passage pair."
    ),
    click.option("--epochs", default=1.0, show_default=True, type=float),
    click.option(
        "--batch",
        default=8,
        show_default=True,
        help="Questions per step (each with its positive and negatives).",
    ),
    click.option(
        "--negatives",
        default=4,
        show_default=True,
        help="Hard negatives per question (BM25, e5, hybrid).",
    ),
    click.option("--lr", default=5e-5, show_default=True, type=float),
    click.option(
        "--limit",
        default=None,
        type=int,
        help="Use only this many training questions (smoke runs).",
    ),
    click.option(
        "--max-paragraphs",
        default=450,
        show_default=True,
        type=int,
        help="Train on a seeded sample of this many eligible paragraphs (and their questions).",
    ),
    click.option(
        "--threads", default=None, type=int, help="torch threads (default: torch's choice)."
    ),
    click.option(
        "--max-minutes",
        default=None,
        type=float,
        help="Stop training after this long (recorded in the JSON).",
    ),
    click.option(
        "--int8/--fp32",
        default=True,
        show_default=True,
        help="Calibrate (and serve) the int8-quantised network.",
    ),
)


def _training_summary(meta: dict[str, Any]) -> dict[str, Any]:
    """What the command prints of the weights' JSON: the model, its digest and the dev figures."""
    return {k: meta[k] for k in ("depth", "max_length", "weights_sha256", "wall_seconds")} | {
        "calibration": {
            lang: {k: v for k, v in c.items() if k.startswith("dev_") or k == "threshold"}
            for lang, c in meta["calibration"].items()
        }
    }


@retrieval_group.command("train-reranker")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Weights directory (default: the package's app/weights).",
)
@DATA_DIR_OPTION
@TRAINING_OPTIONS
def train_reranker_cmd(out: Path | None, data_dir: Path | None, **recipe: Any) -> None:
    """Train the e5 cross-encoder reranker on the shared QA training
    data and calibrate it per language on dev.
    """
    from app.reranker import WEIGHTS_DIR
    from app.reranker_training import train_reranker

    with ProgressBars() as bars:
        meta = train_reranker(
            out or WEIGHTS_DIR,
            root=data_dir,
            progress=bars,
            log=lambda m: click.echo(m, err=True),
            **recipe,
        )
    click.echo(json.dumps(_training_summary(meta), ensure_ascii=False))

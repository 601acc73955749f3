"""``kateder retrieval ...`` and ``kateder answer ...``: the evaluation harness on the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from app.cli.common import ProgressBars


def _load(path: Path):
    from app.evaluation import EvalSet

    try:
        return EvalSet.load(path)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{path}: {exc}") from None


def _config() -> dict:
    from app.config import load_config

    cfg = load_config()
    return {k: v for k, v in cfg.items() if k not in ("HOME", "DATABASE_URL")}


def _print(report: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    for lang, b in [("all", report), *report.get("by_language", {}).items()]:
        fields = ", ".join(f"{k}={v}" for k, v in b.items() if k != "by_language" and not isinstance(v, dict))
        click.echo(f"{lang:4} {fields}")


@click.group("retrieval")
def retrieval_group() -> None:
    """Measure retrieval on a QA set (hit@1, hit@5, MRR@10, declines)."""


@retrieval_group.command("eval")
@click.option("--data", "data", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Eval file (passages + questions).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--chunk-tokens", type=click.IntRange(min=0), default=None,
              help="Split passages as ingestion does, into chunks of this many tokens (0: keep them whole; default: CHUNK_TOKENS).")
def retrieval_eval_cmd(data: Path, as_json: bool, chunk_tokens: int | None) -> None:
    """Index the passages into a fresh temporary store and rank every question."""
    from app.evaluation import retrieval_eval

    config = _config()
    chunks = int(config.get("CHUNK_TOKENS", 200)) if chunk_tokens is None else chunk_tokens
    with ProgressBars() as bars:
        report = retrieval_eval(_load(data), config, progress=bars, chunk_tokens=chunks)
    _print(report, as_json)


@retrieval_group.command("convert")
@click.option("--source", type=click.Choice(["xquad-en", "xquad-de", "squad-it", "norquad", "swequad-mc"]), multiple=True, required=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Where to write the eval file.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None, help="The qa folder (default ../shared/data/qa).")
@click.option("--max-questions", default=300, show_default=True)
@click.option("--max-passages", default=600, show_default=True)
@click.option("--unanswerable", default=100, show_default=True, help="Questions of held-out articles (gold null).")
@click.option("--seed", default=13, show_default=True)
def retrieval_convert_cmd(source, out: Path, data_dir, max_questions: int, max_passages: int, unanswerable: int, seed: int) -> None:
    """Convert XQuAD / SQuAD-it / NorQuAD / SweQUAD-MC (training split) into the eval format (bounded, fixed seed)."""
    from app.evaluation import convert_source, merge

    try:
        sets = [convert_source(s, data_dir, max_questions=max_questions, max_passages=max_passages, unanswerable=unanswerable, seed=seed) for s in source]
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    merged = merge(sets)
    merged.save(out)
    click.echo(f"{out}: {len(merged.passages)} passages, {len(merged.questions)} questions", err=True)


@click.group("answer")
def answer_group() -> None:
    """Measure answers end to end (citations, declines)."""


@answer_group.command("eval")
@click.option("--data", "data", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--limit", default=50, show_default=True, help="Questions to ask (sampled with a fixed seed).")
@click.option("--json", "as_json", is_flag=True)
def answer_eval_cmd(data: Path, limit: int, as_json: bool) -> None:
    """Ask questions through the full pipeline: how often the gold passage is cited, how often unanswerable ones are declined."""
    from app.evaluation import answer_eval

    with ProgressBars() as bars:
        report = answer_eval(_load(data), _config(), limit=limit, progress=bars)
    _print(report, as_json)
    sys.stdout.flush()

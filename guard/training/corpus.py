"""The training corpus in one command (``kateder guard build-data``) and its data card.

Reads every source (``guard.training.datasets.load_all``), partitions it by the plan in
``guard/data/sources.json`` (:func:`guard.training.train.partition`) and writes ``train.jsonl``,
``dev.jsonl`` and ``test.jsonl`` plus ``counts.json``: rows by part x source x label and
by part x language x phenomenon x label. The data card in docs/ is generated from it.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

from guard.training.datasets import PROJECT_SOURCES, Example, load_all
from guard.training.train import load_plan, partition

CARD = Path(__file__).resolve().parents[2] / "docs" / "guard-data-card.md"
START, END = "<!-- counts:start -->", "<!-- counts:end -->"


def _row(ex: Example, part: str) -> dict:
    data = ex.to_json()
    data["part"] = part
    return data


def build(out_dir: Path, log: Callable[[str], None] = print) -> dict:
    """Write the three parts and return the counts."""
    plan = load_plan()
    examples = load_all()
    parts = dict(zip(("train", "dev", "test"), partition(examples, plan), strict=True))
    out_dir.mkdir(parents=True, exist_ok=True)
    counts: dict = {"by_part": {}, "by_source": {}, "project": {}}
    project: dict[str, Counter] = defaultdict(Counter)
    for name, rows in parts.items():
        with (out_dir / f"{name}.jsonl").open("w", encoding="utf-8") as fh:
            for ex in rows:
                fh.write(json.dumps(_row(ex, name), ensure_ascii=False) + "\n")
        counts["by_part"][name] = dict(Counter(ex.label for ex in rows))
        counts["by_source"][name] = dict(
            sorted(Counter(f"{ex.source}|{ex.language}|{ex.label}" for ex in rows).items())
        )
        for ex in rows:
            if ex.source in PROJECT_SOURCES:
                project[ex.source][f"{ex.language}|{ex.phenomenon}|{ex.label}|{name}"] += 1
        log(f"{name}: {len(rows)} rows")
    counts["project"] = {k: dict(sorted(v.items())) for k, v in sorted(project.items())}
    (out_dir / "counts.json").write_text(json.dumps(counts, indent=2) + "\n", encoding="utf-8")
    return counts


def card_tables(counts: dict) -> list[str]:
    """Markdown tables: every source by part and label, project rows by language x phenomenon."""
    lines = ["### Every source, by part (train / dev / test) and label", ""]
    lines += ["| source | language | part | safe | unsafe |", "|---|---|---|---:|---:|"]
    for part, table in counts["by_source"].items():
        merged: dict[tuple[str, str], Counter] = defaultdict(Counter)
        for key, n in table.items():
            source, lang, label = key.split("|")
            merged[(source, lang)][label] += n
        for (source, lang), c in sorted(merged.items()):
            lines.append(f"| {source} | {lang} | {part} | {c['safe']} | {c['unsafe']} |")
    for source, table in counts["project"].items():
        lines += ["", f"### Project rows: {source}, by language x phenomenon x label", ""]
        merged2: dict[tuple[str, str], Counter] = defaultdict(Counter)
        for key, n in table.items():
            lang, phen, label, part = key.split("|")
            merged2[(lang, phen)][label] += n
            merged2[(lang, phen)][part] += n
        lines += [
            "| language | phenomenon | safe | unsafe | train | dev | test |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for (lang, phen), c in sorted(merged2.items()):
            lines.append(
                f"| {lang} | {phen} | {c['safe']} | {c['unsafe']} | {c['train']} | {c['dev']} "
                f"| {c['test']} |"
            )
        totals: Counter = Counter()
        for (lang, _), c in merged2.items():
            totals[lang] += c["safe"] + c["unsafe"]
        lines += [
            "",
            "Rows per language: " + ", ".join(f"{k} {v}" for k, v in sorted(totals.items())),
        ]
    return lines


def write_card(counts: dict, path: Path = CARD) -> None:
    """Replace the generated counts section of the data card."""
    text = path.read_text(encoding="utf-8")
    block = "\n".join([START, *card_tables(counts), END])
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")

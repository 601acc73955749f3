"""Compare two guard models on identical held-out rows, from ``guard_eval.py --scores`` files.

Usage::

    python bench/guard_eval.py --no-write --scores /tmp/a.jsonl                 # model A
    python bench/guard_eval.py --no-write --weights DIR --plan P --scores /tmp/b.jsonl
    python bench/guard_compare.py /tmp/a.jsonl /tmp/b.jsonl --names v2 v6

Two models trained on different plans hold out different rows (an experiment may train on
part of a source the shipped model never saw). Only the rows that are in the same part
(test or dev) of both files are compared, so every figure is on the same rows. Each model
keeps its own decisions (thresholds chosen on its own dev data). Prints one table per part:
per-source AUROC / recall / FPR, per-language figures and student questions.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.guard_eval import evaluate_part, fmt  # noqa: E402
from guard.training.datasets import Example  # noqa: E402

Scored = tuple[Example, float, bool, float, bool]


def read_scores(path: Path) -> dict[tuple, Scored]:
    """``(part, text, source, language, label) -> scored row`` of one ``--scores`` file."""
    rows: dict[tuple, Scored] = {}
    fields = Example.__dataclass_fields__
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        ex = Example(**{f: tuple(r[f]) if isinstance(r[f], list) else r[f] for f in fields})
        key = (r["part"], ex.text, ex.source, ex.language, ex.label)
        rows[key] = (ex, r["score"], r["blocked"], r["injection_score"], r["learned_injection"])
    return rows


def common_parts(a: dict[tuple, Scored], b: dict[tuple, Scored]) -> dict[str, tuple[list, list]]:
    """Per part, the rows both files hold, in the same order for each model."""
    keys = sorted(set(a) & set(b))
    parts: dict[str, tuple[list, list]] = {}
    for key in keys:
        left, right = parts.setdefault(key[0], ([], []))
        left.append(a[key])
        right.append(b[key])
    return parts


def _cell(entry: dict | None) -> str:
    if not entry:
        return "–"
    return f"{fmt(entry['auroc'])} / {fmt(entry['recall'])} / {fmt(entry['fpr'])}"


def table(title: str, first: dict, second: dict, names: tuple[str, str]) -> list[str]:
    """One markdown table: every group of ``first`` and ``second`` (AUROC / recall / FPR)."""
    lines = [f"#### {title} (AUROC / recall / FPR)", ""]
    lines += [f"| group | n | {names[0]} | {names[1]} |", "|---|---:|---|---|"]
    for group in sorted(set(first) | set(second)):
        n = (first.get(group) or second.get(group) or {}).get("n", 0)
        lines.append(f"| {group} | {n} | {_cell(first.get(group))} | {_cell(second.get(group))} |")
    return lines + [""]


def compare(a_path: Path, b_path: Path, names: tuple[str, str]) -> list[str]:
    """The comparison tables of two score files."""
    a, b = read_scores(a_path), read_scores(b_path)
    md = [f"Rows in both files: {len(set(a) & set(b))} (of {len(a)} and {len(b)}).", ""]
    for part, (left, right) in sorted(common_parts(a, b).items(), reverse=True):
        ra, rb = evaluate_part(left), evaluate_part(right)
        for key, title in (
            ("sources", "by source"),
            ("languages", "by language"),
            ("student_questions", "student questions"),
        ):
            md += table(f"{part}, {title}", ra[key], rb[key], names)
    return md


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--names", nargs=2, default=("first", "second"))
    args = parser.parse_args()
    print("\n".join(compare(args.first, args.second, tuple(args.names))))


if __name__ == "__main__":
    main()

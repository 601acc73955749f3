"""bench/guard_compare.py compares two models only on the rows both hold out."""

from __future__ import annotations

from bench.guard_compare import common_parts, compare, read_scores
from bench.guard_eval import write_scores
from guard.training.datasets import Example


def _ex(text: str, label: str, source: str = "strongreject") -> Example:
    return Example(text, label, "sv", source=source, split="test")


def test_only_rows_in_the_same_part_of_both_files_are_compared(tmp_path):
    shared = [_ex("a", "unsafe"), _ex("b", "safe"), _ex("c", "unsafe")]

    def scored(scores):
        return [(ex, s, s > 0.5, 0.0, False) for ex, s in zip(shared, scores, strict=True)]

    only_a = _ex("trained by b", "unsafe", "written-general")
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_scores(
        a,
        {
            "test": scored((0.9, 0.2, 0.4)) + [(only_a, 0.1, False, 0.0, False)],
            "dev": [],
        },
    )
    write_scores(
        b,
        {
            "test": scored((0.8, 0.3, 0.7)),
            "dev": [(only_a, 0.9, True, 0.0, False)],  # the same row in another part
        },
    )
    parts = common_parts(read_scores(a), read_scores(b))
    assert list(parts) == ["test"]
    left, right = parts["test"]
    assert [r[0].text for r in left] == [r[0].text for r in right] == ["a", "b", "c"]
    assert [r[1] for r in right] == [0.8, 0.3, 0.7]
    md = "\n".join(compare(a, b, ("v2", "v6")))
    assert "Rows in both files: 3 (of 4 and 4)." in md
    # recall 1 of 2 for the first model, 2 of 2 for the second; AUROC 1.0 for both
    assert "| strongreject | 3 | 1.000 / 0.500 / 0.000 | 1.000 / 1.000 / 0.000 |" in md

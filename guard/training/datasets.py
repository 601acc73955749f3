"""The guard's training and evaluation data: the shared sets and the project's own files.

``load_all`` gathers every reader of ``readers.py`` (the labelled sets in
``../shared/data``) and the project-authored JSONL files under ``guard/data`` (written
minimal pairs, translations, templated rows) as :class:`Example` records in the evaluation
JSONL format (``text``, ``label``, ``language``, ``role``, ``categories``) plus the
``source`` and a deterministic ``split``. Nothing here copies data into the repository.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from guard.training import readers
from guard.training.examples import PACKAGE_DATA, Example, Split, shared_data_dir, split_of

__all__ = [
    "PACKAGE_DATA",
    "SHARED_READERS",
    "Example",
    "Split",
    "handwritten_test",
    "load_all",
    "project_file",
    "project_rows",
    "shared_data_dir",
    "split_of",
]


def _translated_split(origin: str, source_id: str) -> Split | None:
    """A translation lands in the split of its English original (same key as its reader)."""
    if not origin.startswith("translated:") or not source_id:
        return None
    rule = {
        "advbench": lambda k: split_of("adv" + k),
        "maliciousinstruct": lambda k: split_of(f"mi{k}"),
        "harmbench": lambda k: split_of("hb" + k, 0.3, 0.0),
        "coconot-pref": lambda k: split_of("cc" + k, 0.2, 0.0),
    }.get(origin.split(":", 1)[1])
    return rule(source_id) if rule else None


def project_file(
    name: str, default_split: Split | None = None, source: str | None = None
) -> Iterator[Example]:
    """Examples from a project-authored JSONL file under ``guard/data``.

    Rows without a ``split`` get one from their ``pair_id`` (so both twins of a minimal
    pair land together), else from their text. ``source`` names the source of every row
    (default: the row's own, else its origin).
    """
    for line in (PACKAGE_DATA / name).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        origin = row.get("origin", "written")
        row_source = (
            source
            or row.get("source")
            or ("translated" if origin.startswith("translated") else origin)
        )
        split = (
            default_split
            or row.get("split")
            or _translated_split(origin, row.get("source_id", ""))
            or split_of(row.get("pair_id") or row["text"])
        )
        yield Example(
            row["text"],
            row["label"],
            row["language"],
            row.get("role", "user"),
            tuple(row.get("categories", ())),
            row_source,
            split,
            tuple(row.get("tags", ())),
            row.get("phenomenon", ""),
            row.get("pair_id", ""),
            origin,
        )


# the sources of the project's own rows (project_rows), counted and reported per language
PROJECT_SOURCES = ("written", "written-general", "written-lone", "translated", "templated")


def project_rows() -> Iterator[Example]:
    """Every project-authored training file: written pairs, templated rows, translations."""
    for folder in ("written", "translated"):
        for path in sorted((PACKAGE_DATA / folder).glob("*.jsonl")):
            yield from project_file(f"{folder}/{path.name}")
    # general harmful requests and their twins, written after the shipped weights were
    # trained: a held-out test source of their own (guard/data/sources.json)
    for path in sorted((PACKAGE_DATA / "general").glob("*.jsonl")):
        yield from project_file(f"general/{path.name}", source="written-general")
    # plain harmful requests without twins, written per language on 2026-12-06: the
    # confidence on a lone request that the pairs do not teach (held out: test)
    for path in sorted((PACKAGE_DATA / "lone").glob("*.jsonl")):
        yield from project_file(f"lone/{path.name}", source="written-lone")
    yield from project_file("templated.jsonl")


SHARED_READERS = {
    "advbench": readers.advbench,
    "harmbench": readers.harmbench,
    "maliciousinstruct": readers.maliciousinstruct,
    "strongreject": readers.strongreject,
    "simplesafetytests": readers.simplesafetytests,
    "multijail": readers.multijail,
    "openai-moderation": readers.openai_moderation,
    "rtp-lx": readers.rtp_lx,
    "germeval2018": readers.germeval,
    "alpaca-harmless": readers.alpaca_harmless,
    "qa": readers.qa_questions,
    "qa-swequad": readers.swequad_questions,
    "gahd": readers.gahd,
    "hatecheck": readers.hatecheck,
    "toxigen": readers.toxigen,
    "dkhate": readers.dkhate,
    "coconot": readers.coconot,
    "safetext": readers.safetext,
}


def load_all(root: Path | None = None, names: list[str] | None = None) -> list[Example]:
    """Every shared set plus the project's own rows (not the hand-written test file).

    ``names`` selects readers; ``"project"`` stands for the project's own files.
    """
    root = root or shared_data_dir()
    out: list[Example] = []
    for name, reader in SHARED_READERS.items():
        if names is None or name in names:
            out.extend(ex for ex in reader(root) if ex.text.strip())
    if names is None or "project" in names:
        out.extend(project_rows())
    return out


def handwritten_test() -> list[Example]:
    """The hand-written test file: never used for training or for choosing thresholds."""
    return list(project_file("handwritten_test.jsonl", "test"))

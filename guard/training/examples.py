"""The labelled example record, its deterministic split, and where the shared data lives.

The base of guard training: the readers (``readers.py``) and the project's own data files
(``datasets.py``) both yield :class:`Example` records.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

Split = str  # "train" | "dev" | "test"
PACKAGE_DATA = Path(__file__).resolve().parents[1] / "data"


@dataclass(frozen=True)
class Example:
    """One labelled text in the evaluation format."""

    text: str
    label: str  # "safe" | "unsafe"
    language: str
    role: str = "user"
    categories: tuple[str, ...] = ()
    source: str = ""
    split: Split = "train"
    tags: tuple[str, ...] = field(default=())
    phenomenon: str = ""  # e.g. "homonym", "bullying", "jb-roleplay", "injection"
    pair_id: str = ""  # minimal pairs share it: the unsafe text must outscore its safe twin
    origin: str = ""  # "written", "templated", "translated:<source>" or the shared set

    def to_json(self) -> dict:
        """The JSONL record (categories as a list)."""
        data = asdict(self)
        data["categories"] = list(self.categories)
        data["tags"] = list(self.tags)
        return data


def shared_data_dir() -> Path:
    """``$KATEDER_SHARED_DATA``, else ``./../shared/data``, else next to the source checkout."""
    env = os.environ.get("KATEDER_SHARED_DATA")
    if env:
        return Path(env)
    candidate = Path.cwd().parent / "shared" / "data"
    if candidate.is_dir():
        return candidate
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def split_of(key: str, dev: float = 0.15, test: float = 0.15) -> Split:
    """Deterministic split from a group key (sha1, so it is stable across runs)."""
    h = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    if h < test:
        return "test"
    if h < test + dev:
        return "dev"
    return "train"


def csv_rows(path: Path) -> Iterator[dict]:
    """The rows of a UTF-8 CSV file (a byte-order mark is skipped) as dicts."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        yield from csv.DictReader(fh)

"""The eval format: passages and questions, read and written as JSON, merged and split.

::

    {"passages":  [{"id", "text", "language", "group"?}],
     "questions": [{"question", "gold", "language", "group"?}]}

``gold`` is a passage id, or ``null`` for a question the material cannot answer (built by
asking the questions of held-out articles).
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SEED = 13


@dataclass(frozen=True)
class EvalPassage:
    """One passage of the material."""

    id: str
    text: str
    language: str
    group: str = ""


@dataclass(frozen=True)
class EvalQuestion:
    """One question; ``gold`` is None when the material cannot answer it."""

    question: str
    gold: str | None
    language: str
    group: str = ""


@dataclass
class EvalSet:
    """Passages and questions in the eval format."""

    passages: list[EvalPassage]
    questions: list[EvalQuestion]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "passages": [asdict(p) for p in self.passages],
            "questions": [asdict(q) for q in self.questions],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalSet:
        """Parse the JSON form; raise ValueError on a malformed file."""
        try:
            passages = [
                EvalPassage(str(p["id"]), p["text"], p.get("language") or "en", p.get("group", ""))
                for p in data["passages"]
            ]
            questions = [
                EvalQuestion(
                    q["question"],
                    None if q.get("gold") is None else str(q["gold"]),
                    q.get("language") or "en",
                    q.get("group", ""),
                )
                for q in data["questions"]
            ]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not an eval file: missing {exc}") from None
        ids = {p.id for p in passages}
        missing = [q.gold for q in questions if q.gold is not None and q.gold not in ids]
        if missing:
            raise ValueError(
                f"{len(missing)} gold ids are not among the passages, e.g. {missing[0]!r}"
            )
        return cls(passages, questions)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EvalSet:
        """Read an eval file."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write an eval file."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")


def merge(sets: Iterable[EvalSet]) -> EvalSet:
    """One eval set holding several (ids must already be distinct)."""
    out = EvalSet([], [])
    for s in sets:
        out.passages.extend(s.passages)
        out.questions.extend(s.questions)
    return out


def split_questions(
    evalset: EvalSet, dev_share: float = 0.5, seed: int = SEED, *, by_passage: bool = False
) -> tuple[list[EvalQuestion], list[EvalQuestion]]:
    """A fixed dev/test split of the questions (for tuning on dev, reporting on test).

    ``by_passage``: all questions of one passage (of one held-out group when unanswerable)
    fall on the same side, so tuning never sees the test half's texts.
    """
    rng = random.Random(seed)
    if not by_passage:
        qs = list(evalset.questions)
        rng.shuffle(qs)
        cut = int(len(qs) * dev_share)
        return qs[:cut], qs[cut:]
    key = lambda q: q.gold if q.gold is not None else f"group:{q.group}"  # noqa: E731
    units = sorted({key(q) for q in evalset.questions})
    rng.shuffle(units)
    dev_units = set(units[: int(len(units) * dev_share)])
    return [q for q in evalset.questions if key(q) in dev_units], [
        q for q in evalset.questions if key(q) not in dev_units
    ]

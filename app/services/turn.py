"""The records that flow through the question path's steps (app/services/ask.py).

``Turn`` is frozen: each step that learns something returns a new one
(``dataclasses.replace``). ``Release`` is the one mutable record: the answer while its
sentences are being released.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from app.retrieval import RetrievedPassage
from guard.policy import CoursePolicy, ModerationResult


@dataclass(frozen=True)
class Turn:
    """One question on its way through the steps (``AskService.stream``).

    ``question`` is the redacted text: from the input guard on, no step sees the original.
    """

    user_id: int
    course_id: int
    policy: CoursePolicy
    language: str
    question: str  # redacted by the input guard
    chars: int  # length of the normalised question as asked
    history: tuple[tuple[str, str], ...]  # earlier (question, answer) pairs, redacted again
    conversation_id: int | None
    checked: ModerationResult  # the input guard's decision
    took_slot: bool  # a daily-limit slot was taken (given back if the question is not recorded)


@dataclass(frozen=True)
class Access:
    """What the authorisation step found: who asks where, under which policy."""

    user_id: int
    course_id: int
    course_language: str
    policy: CoursePolicy
    history: tuple[tuple[str, str], ...]
    conversation_id: int | None
    took_slot: bool


@dataclass
class Clock:
    """Step timings of one question, in milliseconds."""

    started: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Release:
    """The answer while it is streamed: what the output guard and the grounder let through."""

    mode: str
    grounded: bool
    released: list[str] = field(default_factory=list)
    output: ModerationResult | None = None
    blocked: bool = False
    grounding: dict[str, int] = field(
        default_factory=lambda: {"checked": 0, "removed": 0, "recited": 0}
    )
    guard_ms: float = 0.0
    guard_checks: int = 0  # output guard calls
    read_whole: int = 0  # released sentences the output guard last read as one whole answer
    first_sentence_at: float | None = None


@dataclass(frozen=True)
class Reply:
    """The final answer of one turn, as it is stored and audited (``AskService._finish``)."""

    text: str
    action: str
    mode: str
    citations: list[dict[str, Any]]
    output: ModerationResult | None = None
    passages: list[RetrievedPassage] = field(default_factory=list)
    grounding: dict[str, int] | None = None


def elapsed_ms(start: float) -> float:
    """Milliseconds since ``start`` (a ``time.perf_counter()`` reading, such as
    ``Clock.started``).
    """
    return (time.perf_counter() - start) * 1000

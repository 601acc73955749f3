"""Plain value types shared by every guard backend and by the moderation policy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Role = Literal["user", "agent"]
Action = Literal["allow", "care", "block", "crisis"]


@dataclass(frozen=True)
class Message:
    """One turn of a conversation as the guard sees it."""

    role: Role
    content: str


@dataclass(frozen=True)
class Verdict:
    """The result of one classification: safe or not, which hazards, how sure."""

    safe: bool
    categories: tuple[str, ...] = ()
    score: float = 0.0  # probability of "unsafe", 0..1
    backend: str = ""
    model: str = ""
    error: str | None = None  # set when the backend failed; such a verdict is never safe
    latency_ms: float = 0.0
    details: dict = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict:
        """JSON-ready form used by the API, the CLI and the audit log."""
        return {
            "safe": self.safe,
            "categories": list(self.categories),
            "score": round(float(self.score), 4),
            "backend": self.backend,
            "model": self.model,
            "error": self.error,
        }


@runtime_checkable
class Guard(Protocol):
    """A safety classifier for the last turn of a conversation."""

    name: str

    def classify(self, conversation: Sequence[Message], *, role: Role) -> Verdict:
        """Classify the last message of ``conversation``, written by ``role``."""
        ...

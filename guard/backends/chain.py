"""A chain of guards: run in order, combine, fail closed.

The combined verdict is unsafe when any member says unsafe; its score is the highest member
score and its categories the union. A member error makes the whole verdict an error
(fail closed). With ``fail_fast`` the chain stops at the first unsafe verdict, so a cheap
first layer (rules) saves the slower ones on clear cases.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from core.model_card import ModelCard, combine, describe
from guard.types import Guard, Message, Role, Verdict


class ChainGuard:
    """Several guards behind one ``classify``."""

    name = "chain"

    def __init__(self, guards: Sequence[Guard], fail_fast: bool = True) -> None:
        """Run ``guards`` in order."""
        if not guards:
            raise ValueError("a chain needs at least one guard")
        self.guards = tuple(guards)
        self.fail_fast = fail_fast

    def describe(self) -> ModelCard:
        """The members' cards, in the order they run."""
        return combine("Kateder guard chain", tuple(describe(g) for g in self.guards))

    def classify(self, conversation: Sequence[Message], *, role: Role) -> Verdict:
        """Combine member verdicts; per-member results are kept in ``details["members"]``."""
        start = time.perf_counter()
        members: list[Verdict] = []
        for guard in self.guards:
            try:
                verdict = guard.classify(conversation, role=role)
            except Exception as exc:  # noqa: BLE001 - fail closed
                verdict = Verdict(
                    safe=False,
                    score=1.0,
                    backend=getattr(guard, "name", "?"),
                    error=f"{type(exc).__name__}: {exc}",
                )
            members.append(verdict)
            if verdict.error or (self.fail_fast and not verdict.safe):
                break
        errors = [f"{v.backend}: {v.error}" for v in members if v.error]
        categories = tuple(dict.fromkeys(c for v in members for c in v.categories))
        details: dict[str, Any] = {"members": [v.to_dict() for v in members]}
        for v in members:  # keep hints such as the care threshold of the scoring member
            for key in (
                "care_threshold",
                "top_category",
                "category_scores",
                "language",
                "threshold",
            ):
                if key in v.details and key not in details:
                    details[key] = v.details[key]
        if any(v.details.get("injection") for v in members):  # a learned injection flag holds
            details["injection"] = True
            details["injection_score"] = max(
                float(v.details.get("injection_score", 0.0)) for v in members
            )
        return Verdict(
            safe=not errors and all(v.safe for v in members),
            categories=categories,
            score=max(v.score for v in members),
            backend=self.name,
            model="+".join(v.backend for v in members),
            error="; ".join(errors) or None,
            latency_ms=(time.perf_counter() - start) * 1000,
            details=details,
        )

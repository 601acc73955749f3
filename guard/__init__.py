"""Safety classification: taxonomy, backends, school policy.

Backends are chosen by configuration through :func:`build_guard`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from guard.types import Action, Guard, Message, Role, Verdict


def _rules(config: Mapping[str, Any]) -> Guard:
    from guard.backends.rules import RuleGuard

    return RuleGuard()


BACKENDS: dict[str, Callable[[Mapping[str, Any]], Guard]] = {
    "rules": _rules,
}


def build_guard(config: Mapping[str, Any]) -> Guard:
    """Build the guard named by ``config["GUARD_BACKEND"]``."""
    name = config.get("GUARD_BACKEND", "rules")
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown guard backend {name!r}; choose one of {sorted(BACKENDS)}") from None
    return factory(config)


__all__ = ["Action", "Guard", "Message", "Role", "Verdict", "build_guard", "BACKENDS"]

"""Bounds for every integer a client sends: path segments, JSON bodies and form fields.

Database ids are 32-bit integers on PostgreSQL and SQLite cannot bind anything past
2**63 - 1, so a larger number must never reach a query: in a path it does not match the
route (404), in a body or form it is a 400. Only ASCII digits count ("²".isdigit() is true).
"""

from __future__ import annotations

import re

from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1
_DIGITS = re.compile(r"[0-9]{1,10}")


def parse_int(raw: str | None, *, low: int = 1, high: int = MAX_ID) -> int | None:
    """``raw`` as an int in ``[low, high]``, or None when it is not one (ASCII digits only)."""
    if raw is None or not _DIGITS.fullmatch(raw.strip()):
        return None
    value = int(raw.strip())
    return value if low <= value <= high else None


def valid_id(value: object) -> bool:
    """Whether ``value`` (from JSON) is an int that can be a database id."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


class IdConverter(IntegerConverter):
    """Flask's ``<int:...>`` bounded to a database id: 1 .. 2**31 - 1 (others do not match: 404)."""

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002 - werkzeug's signature
        """Default bounds of an id; a route may still pass its own."""
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)

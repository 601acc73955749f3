"""Citation numbers in the order the reader meets them: 1, 2, 3, with no gaps.

The model cites passages by their place in the prompt ("[2]" is the second retrieved
passage), so an answer that only uses the second passage would show a "2" with no "1".
:func:`in_order` renumbers a streamed answer as it goes (each marker gets the next number
the first time its passage is cited) and :func:`renumber` does the same for a stored
answer and its citations. A marker that points at no passage is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Generator
from dataclasses import replace
from typing import Any, TypeVar

MARKER = re.compile(r"[ \t]*\[(\d{1,2})\]")

R = TypeVar("R")


class Order:
    """Gives each cited passage the next number the first time the text cites it."""

    def __init__(self, valid: set[int]) -> None:
        """``valid``: the old numbers that point at a passage (others are dropped)."""
        self.valid = valid
        self.numbers: dict[int, int] = {}

    def apply(self, text: str) -> str:
        """``text`` with its markers renumbered (and markers that point nowhere removed)."""

        def new(m: re.Match) -> str:
            old = int(m.group(1))
            if old not in self.valid:
                return ""
            number = self.numbers.setdefault(old, len(self.numbers) + 1)
            return m.group(0).replace(f"[{old}]", f"[{number}]")

        return MARKER.sub(new, text)


def renumber(text: str, citations: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The answer and its citations numbered 1, 2, 3 in order of first appearance.

    A citation the text never marks (the best passage, when the model cited none) comes
    after the marked ones. Idempotent: an answer already in order is returned unchanged.
    """
    by_number = {int(c["number"]): c for c in citations}
    order = Order(set(by_number))
    text = order.apply(text)
    for old in by_number:  # cited but never marked
        order.numbers.setdefault(old, len(order.numbers) + 1)
    ranked = sorted(by_number.items(), key=lambda item: order.numbers[item[0]])
    return text, [{**c, "number": order.numbers[old]} for old, c in ranked]


def in_order(
    events: Generator[dict[str, Any], None, R], *, passages: int
) -> Generator[dict[str, Any], None, R]:
    """Pass ``events`` through with ``sentence`` texts renumbered; renumber the returned reply too.

    ``passages`` is how many passages the markers may point at (1..passages). The reply
    (a dataclass with ``text`` and ``citations``) gets the same numbers the sentences had.
    Closing this generator closes ``events`` (a stopped answer stops the model).
    """
    order = Order(set(range(1, passages + 1)))
    try:
        while True:
            try:
                event = next(events)
            except StopIteration as stop:
                reply = stop.value
                break
            if event.get("type") == "sentence":
                event = {**event, "text": order.apply(event["text"])}
            yield event
    finally:
        events.close()
    text, citations = renumber(reply.text, reply.citations)
    return replace(reply, text=text, citations=citations)

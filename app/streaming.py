"""Server-Sent Events for streamed answers: one event per released sentence.

The events come from :meth:`app.services.ask.AskService.stream`; only text that the output
guard has passed is ever in a ``sentence`` event.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from core.errors import KatederError


def sse(event: str, data: Any) -> str:
    """One SSE frame."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def to_sse(
    events: Iterator[dict[str, Any]], extra: Callable[[Any], dict[str, Any]] | None = None
) -> Iterator[str]:
    """Serialise ask events (meta, sentence, refusal, done) as SSE; errors become an ``error``
    event.

    ``extra(result)``, when given, adds fields to the ``done`` event (the web view adds the
    questions left today and the conversation's title and address).
    """
    try:
        for event in events:
            kind = event["type"]
            if kind == "done":
                yield sse(
                    "done", event["result"].to_dict() | (extra(event["result"]) if extra else {})
                )
            else:
                yield sse(kind, {k: v for k, v in event.items() if k != "type"})
    except KatederError as exc:  # the same code and message as the JSON error (app/errors.py)
        yield sse("error", {"error": exc.code, "message": exc.text(), "status": exc.status})

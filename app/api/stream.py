"""Streamed answers for API clients:
``POST /api/v1/courses/<code>/ask/stream`` as Server-Sent Events.

Token-authenticated like the JSON API. Events: ``meta``, ``sentence`` (only text the output
guard has passed), ``refusal``, ``done`` (the fields of ``kateder ask --json``) or ``error``.
Problems found before streaming starts (bad body, not enrolled, daily limit) are answered
as JSON errors with their HTTP status, like the non-streamed endpoint.
"""

from __future__ import annotations

from itertools import chain

from flask import Blueprint, Response, g, stream_with_context

from app.api import ask_arguments, login_required
from app.services import get_services
from app.streaming import to_sse

bp = Blueprint("api_stream", __name__, url_prefix="/api")


@bp.post("/v1/courses/<code>/ask/stream")
@login_required
def ask_stream(code: str) -> Response:
    """Ask a question; the answer arrives one guarded sentence at a time."""
    question, conversation_id = ask_arguments()
    events = get_services().ask.stream(g.api_user.id, code, question, conversation_id)
    first = next(events)  # runs the checks (and the input guard) before the 200 is sent
    return Response(
        stream_with_context(to_sse(chain([first], events))),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

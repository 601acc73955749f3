"""Streamed answers for API clients: ``POST /api/v1/courses/<code>/ask/stream`` as Server-Sent Events.

Token-authenticated like the JSON API. Events: ``meta``, ``sentence`` (only text the output
guard has passed), ``refusal``, ``done`` (the fields of ``kateder ask --json``) or ``error``.
Problems found before streaming starts (bad body, not enrolled, daily limit) are answered
as JSON errors with their HTTP status, like the non-streamed endpoint.
"""

from __future__ import annotations

from itertools import chain

from flask import Blueprint, Response, g, stream_with_context

from app import get_services
from app.api import _json_body, login_required
from app.services.ask import AskError
from app.streaming import to_sse

bp = Blueprint("api_stream", __name__, url_prefix="/api")


@bp.post("/v1/courses/<code>/ask/stream")
@login_required
def ask_stream(code: str) -> Response:
    """Ask a question; the answer arrives one guarded sentence at a time."""
    body = _json_body()
    question = body.get("question")
    conversation_id = body.get("conversation_id")
    if not isinstance(question, str):
        raise AskError("give the question as a string in 'question'")
    if conversation_id is not None and (not isinstance(conversation_id, int) or isinstance(conversation_id, bool)):
        raise AskError("'conversation_id' must be an integer")
    events = get_services().ask.stream(g.api_user.id, code, question, conversation_id)
    first = next(events)  # runs the checks (and the input guard) before the 200 is sent
    return Response(
        stream_with_context(to_sse(chain([first], events))),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

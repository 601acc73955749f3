"""The JSON API (``/api/v1``): thin views that parse, make one service call and serialise."""

from __future__ import annotations

import json
from functools import wraps

from flask import Blueprint, abort, g, jsonify, request

from app import get_services
from app.services import accounts
from app.services.ask import AskError

bp = Blueprint("api", __name__, url_prefix="/api")


def _json_body() -> dict:
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested thousands deep (found by tests/integration/test_api_fuzz.py)
        raise AskError("the JSON body is nested too deeply") from None
    if not isinstance(body, dict):
        raise AskError("send a JSON object as the request body")
    try:  # "\ud800" escapes decode to lone surrogates, which no database can store
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise AskError("the request contains invalid Unicode (a lone surrogate)") from None
    return body


def current_api_user():
    """The user behind the request's bearer token or browser session, if any."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        with get_services().db.session() as s:
            return accounts.user_for_token(s, header.removeprefix("Bearer ").strip())
    from flask import current_app

    if not hasattr(current_app, "login_manager"):
        return None
    from flask_login import current_user

    return current_user if getattr(current_user, "is_authenticated", False) else None


def login_required(view):
    """Reject anonymous callers with 401; no endpoint is open to anonymous users."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        user = current_api_user()
        if user is None:
            abort(401, description="authentication required: send 'Authorization: Bearer <token>'")
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper


def ask_arguments() -> tuple[str, int | None]:
    """The question and optional conversation id of an ask request body."""
    body = _json_body()
    question = body.get("question")
    conversation_id = body.get("conversation_id")
    if not isinstance(question, str):
        raise AskError("give the question as a string in 'question'")
    if conversation_id is not None and (not isinstance(conversation_id, int) or isinstance(conversation_id, bool)):
        raise AskError("'conversation_id' must be an integer")
    return question, conversation_id


@bp.post("/v1/tokens")
def create_token():
    """Exchange a username and password for a bearer token."""
    body = _json_body()
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise AskError("give 'username' and 'password' as strings")
    services = get_services()
    with services.db.session() as s:
        user = accounts.authenticate(s, username, password)
        if user is None:
            abort(401, description="wrong username or password")
        ttl = int(services.config.get("TOKEN_TTL_HOURS", 12))
        token = accounts.issue_token(s, user, ttl)
        services.audit.record(s, "login", user=user, details={"method": "api_token"})
    return jsonify(token=token, token_type="Bearer", expires_in=ttl * 3600)


@bp.post("/v1/courses/<code>/ask")
@login_required
def ask(code: str):
    """Ask a question in a course; the answer has the fields of ``kateder ask --json``."""
    question, conversation_id = ask_arguments()
    result = get_services().ask.ask(g.api_user.id, code, question, conversation_id)
    return jsonify(result.to_dict())

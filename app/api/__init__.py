"""The JSON API (``/api/v1``): thin views that parse, make one service call and serialise."""

from __future__ import annotations

import json
from functools import wraps

from flask import Blueprint, abort, g, jsonify, request

from app.params import MAX_ID, valid_id
from app.security import record_failed_sign_in, sign_in_throttle
from app.services import accounts, get_services
from app.services.audit import utc_iso
from core.errors import LimitReached, UserError
from core.models import User

bp = Blueprint("api", __name__, url_prefix="/api")


def _json_body() -> dict:
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested thousands deep (found by tests/integration/test_api_fuzz.py)
        raise UserError("the JSON body is nested too deeply") from None
    if not isinstance(body, dict):
        raise UserError("send a JSON object as the request body")
    try:  # "\ud800" escapes decode to lone surrogates, which no database can store
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise UserError("the request contains invalid Unicode (a lone surrogate)") from None
    return body


def current_api_user():
    """The user behind the request's bearer token or browser session, if any."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        with get_services().db.session() as s:
            row = accounts.token_row(s, header.removeprefix("Bearer ").strip())
            if row is None:
                return None
            g.api_token_id = row.id
            return s.get(User, row.user_id)
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
        raise UserError("give the question as a string in 'question'")
    if conversation_id is not None and (
        not isinstance(conversation_id, int) or isinstance(conversation_id, bool)
    ):
        raise UserError("'conversation_id' must be an integer")
    if conversation_id is not None and not valid_id(conversation_id):
        raise UserError(f"'conversation_id' must be between 1 and {MAX_ID}")
    return question, conversation_id


@bp.post("/v1/tokens")
def create_token():
    """Exchange a username and password for a bearer token."""
    body = _json_body()
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise UserError("give 'username' and 'password' as strings")
    services = get_services()
    with services.db.session() as s:
        attempt = accounts.sign_in(s, username, password, sign_in_throttle())
        if attempt.user is None:
            record_failed_sign_in(s, attempt, "api_token")
    if attempt.reason == "blocked":
        raise LimitReached(
            "too many attempts to sign in with this username; try again later",
            code="too_many_attempts",
            retry_after=attempt.retry_after,
        )
    if attempt.user is None:
        abort(401, description="wrong username or password")
    with services.db.session() as s:
        user = s.get(User, attempt.user.id)
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


def _token_dict(row, current_id: int | None) -> dict:
    return {
        "id": row.id,
        "created_at": utc_iso(row.created_at),
        "expires_at": utc_iso(row.expires_at) if row.expires_at else None,
        "last_used_at": utc_iso(row.last_used_at) if row.last_used_at else None,
        "current": row.id == current_id,
    }


@bp.get("/v1/tokens")
@login_required
def list_tokens():
    """The caller's own unexpired tokens (never the secrets, which are not stored)."""
    with get_services().db.session() as s:
        rows = accounts.list_tokens(s, g.api_user.id)
        return jsonify(tokens=[_token_dict(r, g.get("api_token_id")) for r in rows])


@bp.delete("/v1/tokens/current")
@login_required
def revoke_current_token():
    """Revoke the token this request was made with (sign out of the API)."""
    token_id = g.get("api_token_id")
    if token_id is None:
        abort(400, description="this request carries no bearer token to revoke")
    return _revoke(token_id)


@bp.delete("/v1/tokens/<int:token_id>")
@login_required
def revoke_token(token_id: int):
    """Revoke one of the caller's own tokens (another user's token id answers 404)."""
    return _revoke(token_id)


def _revoke(token_id: int):
    services = get_services()
    with services.db.session() as s:
        if not accounts.revoke_token(s, g.api_user.id, token_id):
            abort(404, description="no such token")
        services.audit.record(
            s, "token_revoked", user=s.get(User, g.api_user.id), details={"token_id": token_id}
        )
    return "", 204

"""Browser security: Flask-Login sessions, CSRF, rate limits, CSP, cookie flags, optional OIDC.

Settings (``app.config``, each also settable as ``KATEDER_<NAME>``):

- ``COOKIE_SECURE`` (default true): the ``Secure`` flag on session cookies; set
  ``KATEDER_COOKIE_SECURE=false`` only for plain-http localhost.
- ``RATELIMIT_STORAGE_URI`` (default ``memory://``), e.g. ``redis://127.0.0.1:6379``.
- ``RATELIMIT_ASK`` (per student and per address), ``RATELIMIT_LOGIN`` (per address).
- ``OIDC_ISSUER``, ``OIDC_CLIENT_ID``, ``OIDC_CLIENT_SECRET``: sign-in with the school's
  OpenID Connect provider; users are matched on ``preferred_username`` (never created).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import wraps

from flask import Flask, abort, current_app, redirect, request, url_for
from flask_limiter import Limiter
from flask_login import LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFProtect

from app.models import User

csrf = CSRFProtect()
login_manager = LoginManager()


def rate_key() -> str:
    """Per student (browser session or API token), otherwise per address."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return "token:" + hashlib.sha256(header.encode()).hexdigest()[:24]
    if getattr(current_user, "is_authenticated", False):
        return f"user:{current_user.id}"
    return f"ip:{request.remote_addr or '-'}"


def address_key() -> str:
    """Per client address."""
    return f"ip:{request.remote_addr or '-'}"



CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'"
)

DEFAULTS = {
    "COOKIE_SECURE": True,
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_ASK": "20 per minute",
    "RATELIMIT_ASK_ADDRESS": "200 per minute",
    "RATELIMIT_LOGIN": "10 per minute",
    "OIDC_ISSUER": "",
    "OIDC_CLIENT_ID": "",
    "OIDC_CLIENT_SECRET": "",
}


@dataclass(frozen=True)
class WebUser(UserMixin):
    """The signed-in user as the browser session sees it (a detached snapshot of ``User``)."""

    id: int
    username: str
    role: str
    school_id: int
    language: str
    display_name: str | None = None

    @classmethod
    def of(cls, user: User) -> WebUser:
        """Snapshot a database user."""
        return cls(user.id, user.username, user.role, user.school_id, user.language or "en", user.display_name)


def _flag(value) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in {"1", "true", "yes", "on"}


def roles_required(*roles: str):
    """Only signed-in users with one of ``roles``; others get 403 (anonymous: the login page)."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def _is_api() -> bool:
    """The JSON API: every blueprint under ``/api/``."""
    return request.path.startswith("/api/")


def init_app(app: Flask) -> None:
    """Install sessions, CSRF, rate limits, security headers and (if configured) OIDC."""
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    secure = _flag(app.config["COOKIE_SECURE"])
    app.config.update(
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        WTF_CSRF_CHECK_DEFAULT=False,  # checked below, so Bearer-token API calls can skip it
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        RATELIMIT_HEADERS_ENABLED=True,
    )
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")

    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"
    login_manager.init_app(app)
    csrf.init_app(app)
    app.extensions["kateder_limiter"] = Limiter(key_func=rate_key, app=app, default_limits=[])

    @login_manager.user_loader
    def load_user(user_id: str):
        from app import get_services

        try:
            uid = int(user_id)
        except ValueError:
            return None
        with get_services().db.session() as s:
            user = s.get(User, uid)
            return WebUser.of(user) if user is not None and user.active else None

    @login_manager.unauthorized_handler
    def unauthorized():
        if _is_api() or request.accept_mimetypes.best == "application/json" or request.method != "GET":
            abort(401)
        return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))

    @app.before_request
    def check_csrf():
        if request.method in ("GET", "HEAD", "OPTIONS", "TRACE") or not app.config.get("WTF_CSRF_ENABLED", True):
            return
        if _is_api():
            if request.headers.get("Authorization", "").startswith("Bearer "):
                return  # token-authenticated: no ambient credentials to forge
            if request.endpoint == "api.create_token":
                return  # exchanges credentials for a token; uses no session
            if not current_user.is_authenticated:
                return  # no session to ride on; the API answers 401 itself
        try:
            csrf.protect()
        except (AttributeError, TypeError, UnicodeError):  # a malformed form (found by tests/integration/test_api_fuzz.py)
            abort(400, description="The request body is malformed.")

    @app.after_request
    def security_headers(response):
        if response.mimetype != "application/pdf":  # the browser's PDF viewer needs its own scripts
            response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.blueprint and not request.blueprint.startswith("static") and request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    if app.config.get("OIDC_ISSUER") and app.config.get("OIDC_CLIENT_ID"):
        from authlib.integrations.flask_client import OAuth

        oauth = OAuth(app)
        oauth.register(
            "school",
            client_id=app.config["OIDC_CLIENT_ID"],
            client_secret=app.config.get("OIDC_CLIENT_SECRET") or None,
            server_metadata_url=app.config["OIDC_ISSUER"].rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={"scope": "openid profile"},
        )
        app.extensions["kateder_oidc"] = oauth


def apply_limits(app: Flask) -> None:
    """Rate-limit asking (per student and per address) and signing in (per address)."""
    limiter: Limiter = app.extensions["kateder_limiter"]
    rules = {
        "classroom.ask": [(app.config["RATELIMIT_ASK"], rate_key), (app.config["RATELIMIT_ASK_ADDRESS"], address_key)],
        "api.ask": [(app.config["RATELIMIT_ASK"], rate_key), (app.config["RATELIMIT_ASK_ADDRESS"], address_key)],
        "api_stream.ask_stream": [(app.config["RATELIMIT_ASK"], rate_key), (app.config["RATELIMIT_ASK_ADDRESS"], address_key)],
        "auth.login": [(app.config["RATELIMIT_LOGIN"], address_key)],
        "classroom.join": [(app.config["RATELIMIT_LOGIN"], rate_key)],
        "api.create_token": [(app.config["RATELIMIT_LOGIN"], address_key)],
    }
    for endpoint, limits in rules.items():
        view = app.view_functions.get(endpoint)
        if view is None:
            continue
        for limit, key in limits:
            view = limiter.limit(limit, key_func=key, methods=["POST"])(view)
        app.view_functions[endpoint] = view


def oidc_client():
    """The configured OpenID Connect client, or None."""
    oauth = current_app.extensions.get("kateder_oidc")
    return oauth.school if oauth is not None else None

"""Browser security: Flask-Login sessions, CSRF, rate limits, CSP, cookie flags, optional OIDC.

Settings are declared with their defaults in ``app/config.py`` (``COOKIE_SECURE``,
``SESSION_*``, ``LOGIN_*``, ``RATELIMIT_*``, ``OIDC_*``). Who an OIDC sign-in becomes is
decided in ``app/services/sso.py`` (per-school providers, role mapping). Sessions are
revocable: the signed cookie carries a random key whose record (``user_sessions``) is checked
on every request.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import partial, wraps

from flask import Flask, Response, abort, current_app, redirect, request, session, url_for
from flask_limiter import Limiter
from flask_login import LoginManager, UserMixin, current_user
from flask_wtf.csrf import CSRFProtect

from app.config import DEFAULTS as CONFIG_DEFAULTS
from app.errors import wants_json
from app.services import accounts, sso
from app.services.quota import storage_options
from core.models import User

csrf = CSRFProtect()
SESSION_KEY = (
    "sid"  # the signed cookie's key of the server-side session record (app/services/accounts.py)
)
login_manager = LoginManager()
# posted by an LMS (cross-site) or inside its frame: bound to LTI state and nonces instead
# (app/web/lti.py)
CSRF_EXEMPT = ("lti.login", "lti.launch", "lti.deep_link")


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
        return cls(
            user.id,
            user.username,
            user.role,
            user.school_id,
            user.language or "en",
            user.display_name,
        )


def _flag(value) -> bool:
    return (
        value
        if isinstance(value, bool)
        else str(value).strip().lower() in {"1", "true", "yes", "on"}
    )


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
    secure = _configure(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "basic"
    login_manager.init_app(app)
    csrf.init_app(app)
    app.extensions["kateder_limiter"] = Limiter(key_func=rate_key, app=app, default_limits=[])
    _install_sessions(app)
    app.before_request(_check_csrf)
    app.after_request(partial(_security_headers, secure=secure))
    _install_oidc(app)


def _configure(app: Flask) -> bool:
    """Cookie flags, CSRF and rate-limit settings (defaults declared once, in app/config.py); True
    for secure cookies."""
    for key in (
        "COOKIE_SECURE",
        "RATELIMIT_STORAGE_URI",
        "RATELIMIT_ASK",
        "RATELIMIT_ASK_ADDRESS",
        "RATELIMIT_LOGIN",
        "OIDC_ISSUER",
        "OIDC_CLIENT_ID",
        "OIDC_CLIENT_SECRET",
    ):
        app.config.setdefault(key, CONFIG_DEFAULTS[key])
    secure = _flag(app.config["COOKIE_SECURE"])
    app.config.update(
        SESSION_COOKIE_SECURE=secure,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        # checked in _check_csrf, so Bearer-token API calls can skip it
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        RATELIMIT_HEADERS_ENABLED=True,
    )
    # shared counters (Redis) with several workers; if the storage fails, each worker goes on
    # counting in its own memory instead of answering 500 (docs/operations.md, "Rate limits")
    for key in ("RATELIMIT_KEY_PREFIX", "RATELIMIT_STORAGE_TIMEOUT"):
        app.config.setdefault(key, CONFIG_DEFAULTS[key])
    app.config.update(
        RATELIMIT_STORAGE_OPTIONS=storage_options(app.config),
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
    )
    return secure


def _install_sessions(app: Flask) -> None:
    """Revocable sessions: the signed cookie's user counts only while its server-side record is
    live."""
    lifetime = accounts.SessionLifetime.from_config(app.config)
    app.config["PERMANENT_SESSION_LIFETIME"] = (
        lifetime.absolute
    )  # the cookie expires with the session

    @login_manager.user_loader
    def load_user(user_id: str):
        """The session's user, only while its server-side record is live (sign-out deletes it)."""
        from app.services import get_services

        try:
            uid = int(user_id)
        except ValueError:
            return None
        with get_services().db.session() as s:
            user = s.get(User, uid)
            if user is None or not user.active:
                return None
            if not accounts.session_valid(s, uid, session.get(SESSION_KEY), lifetime):
                return None
            return WebUser.of(user)

    login_manager.unauthorized_handler(_unauthorized)


def _unauthorized():
    """Anonymous: 401 for the API, JSON clients and posts (app/errors.py answers it), else the
    login page."""
    if wants_json() or request.method != "GET":
        abort(401)
    return redirect(
        url_for("auth.login", next=request.full_path if request.query_string else request.path)
    )


def _check_csrf() -> None:
    """CSRF on every unsafe request, except LTI posts and API calls that carry no session to
    forge."""
    if request.method in ("GET", "HEAD", "OPTIONS", "TRACE") or not current_app.config.get(
        "WTF_CSRF_ENABLED", True
    ):
        return
    if request.endpoint in CSRF_EXEMPT:
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
    except (
        AttributeError,
        TypeError,
        UnicodeError,
    ):  # a malformed form (found by tests/integration/test_api_fuzz.py)
        abort(400, description="The request body is malformed.")


def _security_headers(response: Response, *, secure: bool) -> Response:
    """CSP, no sniffing or framing, a strict referrer, HSTS behind TLS; no caching of app pages."""
    if response.mimetype != "application/pdf":  # the browser's PDF viewer needs its own scripts
        response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if (
        request.blueprint
        and not request.blueprint.startswith("static")
        and request.endpoint != "static"
    ):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _install_oidc(app: Flask) -> None:
    """One OAuth client per configured identity provider (a wrong OIDC_PROVIDERS file stops the
    start with its line)."""
    providers = sso.load_providers(app.config)
    app.extensions["kateder_sso"] = providers
    if not providers:
        return
    from authlib.integrations.flask_client import OAuth

    oauth = OAuth(app)
    for provider in providers.values():
        oauth.register(
            provider.id,
            client_id=provider.client_id,
            client_secret=provider.client_secret or None,
            server_metadata_url=provider.metadata_url,
            # authlib checks state (in the session), nonce, the id_token's signature (JWKS), iss,
            # aud and exp
            client_kwargs={
                "scope": provider.scope,
                "code_challenge_method": "S256",
                "default_timeout": 10,
            },
        )
    app.extensions["kateder_oidc"] = oauth


def apply_limits(app: Flask) -> None:
    """Rate-limit asking (per student and per address) and signing in (per address)."""
    limiter: Limiter = app.extensions["kateder_limiter"]
    rules = {
        "classroom.ask": [
            (app.config["RATELIMIT_ASK"], rate_key),
            (app.config["RATELIMIT_ASK_ADDRESS"], address_key),
        ],
        "api.ask": [
            (app.config["RATELIMIT_ASK"], rate_key),
            (app.config["RATELIMIT_ASK_ADDRESS"], address_key),
        ],
        "api_stream.ask_stream": [
            (app.config["RATELIMIT_ASK"], rate_key),
            (app.config["RATELIMIT_ASK_ADDRESS"], address_key),
        ],
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


def record_failed_sign_in(s, attempt: accounts.SignIn, method: str) -> None:
    """A security event for a refused sign-in: which account (pseudonymised), why, from where;
    never the password."""
    details = {"method": method, "reason": attempt.reason, "address": request.remote_addr or "-"}
    if attempt.retry_after:
        details["blocked_seconds"] = attempt.retry_after
    action = "login_blocked" if attempt.reason == "blocked" else "login_failed"
    _audit().record(s, action, user=attempt.account, details=details)


def sign_in_throttle() -> accounts.Throttle:
    """The sign-in throttle of this app: ``LOGIN_*`` settings, names keyed with the audit
    pseudonym key."""
    return accounts.Throttle.from_config(current_app.config, pepper=_audit().pseudonymizer.key)


def _audit():
    from app.services import get_services

    return get_services().audit


def oidc_providers() -> dict[str, sso.IdentityProvider]:
    """The configured identity providers by id (docs/operations.md, "Single sign-on")."""
    return current_app.extensions.get("kateder_sso", {})


def oidc_client(provider_id: str | None = None):
    """The OpenID Connect client of ``provider_id``, or None.

    No id (the routes ``/login/oidc`` and ``/login/oidc/callback``, as registered before
    per-school providers): the ``OIDC_ISSUER`` provider if set, else the only provider.
    """
    providers = oidc_providers()
    if provider_id is None:
        provider_id = (
            sso.SHORTHAND
            if sso.SHORTHAND in providers
            else (next(iter(providers)) if len(providers) == 1 else None)
        )
    if provider_id not in providers:
        return None
    return current_app.extensions["kateder_oidc"].create_client(provider_id)

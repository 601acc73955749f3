"""Signing in and out, the language switcher and the role-based start page."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from authlib.common.errors import AuthlibBaseError
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from joserfc.errors import JoseError

from app.security import (
    SESSION_KEY,
    WebUser,
    login_manager,
    oidc_client,
    oidc_providers,
    record_failed_sign_in,
    sign_in_throttle,
)
from app.services import accounts, get_services, sso
from core.language import LANGUAGES
from core.models import User

bp = Blueprint("auth", __name__)

HOME_FOR_ROLE = {
    "student": "classroom.index",
    "teacher": "teacher.index",
    "admin": "teacher.index",
    "dpo": "dpo.index",
}


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after signing in."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or urlsplit(target).netloc
    ):
        return None
    return target


def sign_in(user: User, method: str) -> None:
    """Start a fresh, server-side recorded session for ``user`` (password, OIDC and LTI sign-in)."""
    services = get_services()
    old = session.get(SESSION_KEY)
    session.clear()  # a fresh session on sign-in (no fixation)
    with services.db.session() as s:
        accounts.end_session(s, old)
        session[SESSION_KEY] = accounts.start_session(s, s.get(User, user.id), method)
        services.audit.record(s, "login", user=s.get(User, user.id), details={"method": method})
    session.permanent = True  # the cookie expires with the absolute lifetime (SESSION_MAX_HOURS)
    login_user(WebUser.of(user))


def _save_language(user: User, lang: str) -> None:
    """Store ``lang`` as the account's language (and on ``user``, which signs in next)."""
    with get_services().db.session() as s:
        s.get(User, user.id).language = lang
    user.language = lang


@bp.get("/")
def home():
    """Send each role to its own page."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return redirect(url_for(HOME_FOR_ROLE.get(current_user.role, "auth.login")))


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in form."""
    if current_user.is_authenticated and request.method == "GET":
        return redirect(url_for("auth.home"))
    error, retry_after = None, 0
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        with get_services().db.session() as s:
            attempt = accounts.sign_in(s, username, password, sign_in_throttle())
            if attempt.user is None:
                record_failed_sign_in(s, attempt, "password")
            user = attempt.user
        retry_after = attempt.retry_after if attempt.reason == "blocked" else 0
        if retry_after:
            # the same words for an unknown name as for a real account (accounts.sign_in)
            error = _(
                "Too many attempts to sign in with this username. "
                "Try again in %(minutes)s minutes.",
                minutes=max(1, round(attempt.retry_after / 60)),
            )
        elif user is None:
            error = _("Wrong username or password.")
        else:
            lang = session.get("lang")
            if lang in LANGUAGES:  # the language chosen on the sign-in page wins and is saved
                _save_language(user, lang)
            sign_in(user, "password")
            if lang in LANGUAGES:
                session["lang"] = lang
            return redirect(_safe_next(request.args.get("next")) or url_for("auth.home"))
    status = (429 if retry_after else 401) if error else 200
    response = current_app.make_response(
        (
            render_template("auth/login.html", error=error, oidc=list(oidc_providers().values())),
            status,
        )
    )
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.post("/logout")
def logout():
    """Sign out: the session's server-side record is deleted, so no copy of the cookie works."""
    services = get_services()
    user_id = (
        current_user.id if current_user.is_authenticated else None
    )  # loaded before the write below
    with services.db.session() as s:
        accounts.end_session(s, session.get(SESSION_KEY))
        if user_id is not None:
            services.audit.record(s, "logout", user=s.get(User, user_id))
    logout_user()
    session.clear()
    flash(_("You are signed out."))
    return redirect(url_for("auth.login"))


@bp.post("/logout/everywhere")
def logout_everywhere():
    """Sign out on every device: all of the user's sessions and API tokens end."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    services = get_services()
    with services.db.session() as s:
        ended = {
            "sessions_ended": accounts.end_all_sessions(s, current_user.id),
            "tokens_revoked": accounts.revoke_all_tokens(s, current_user.id),
        }
        services.audit.record(
            s,
            "sessions_revoked",
            user=s.get(User, current_user.id),
            details={"by": "self", **ended},
        )
    logout_user()
    session.clear()
    flash(_("You are signed out on every device."))
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
def change_password():
    """Change one's own password; every other session and every API token of the user ends."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    error, status, retry_after = None, 200, 0
    if request.method == "POST":
        current = request.form.get("current_password", "")
        new, again = (
            request.form.get("new_password", ""),
            request.form.get("new_password_again", ""),
        )
        services = get_services()
        with services.db.session() as s:
            # the current password is checked like a sign-in:
            # throttled, and a failure is a security event
            attempt = accounts.sign_in(s, current_user.username, current, sign_in_throttle())
            if attempt.user is None:
                record_failed_sign_in(s, attempt, "password_change")
        if attempt.reason == "blocked":
            error, status, retry_after = (
                _(
                    "Too many attempts to sign in with this username. "
                    "Try again in %(minutes)s minutes.",
                    minutes=max(1, round(attempt.retry_after / 60)),
                ),
                429,
                attempt.retry_after,
            )
        elif attempt.user is None:
            error, status = _("The current password is wrong."), 400
        elif new != again:
            error, status = _("The new passwords do not match."), 400
        elif len(new) < accounts.MIN_PASSWORD_LENGTH:
            error, status = (
                _(
                    "The new password must have at least %(count)s characters.",
                    count=accounts.MIN_PASSWORD_LENGTH,
                ),
                400,
            )
        else:
            with services.db.session() as s:
                user = s.get(User, current_user.id)
                ended = accounts.change_password(
                    s, user, new, sign_in_throttle()
                )  # this session ends too
                services.audit.record(
                    s, "password_changed", user=user, details={"by": "self", **ended}
                )
            sign_in(
                user, "password"
            )  # this browser goes on with a fresh session; copies of the old cookie do not
            flash(
                _(
                    "Your password was changed. You are signed out on every other device, "
                    "and your API tokens were revoked."
                )
            )
            return redirect(url_for("auth.home"))
    response = current_app.make_response(
        (
            render_template(
                "auth/password.html", error=error, min_length=accounts.MIN_PASSWORD_LENGTH
            ),
            status,
        )
    )
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.post("/language")
def language():
    """Switch the interface language (saved on the account when signed in)."""
    lang = request.form.get("lang", "")
    if lang not in LANGUAGES:
        abort(400)
    session["lang"] = lang
    if current_user.is_authenticated:
        with get_services().db.session() as s:
            s.get(User, current_user.id).language = lang
    return redirect(_safe_next(request.form.get("next")) or url_for("auth.home"))


@bp.get("/login/oidc", defaults={"provider": None})
@bp.get("/login/oidc/<provider>")
def oidc_login(provider: str | None):
    """Start sign-in with a school's OpenID Connect provider (without one named: the only one)."""
    client = oidc_client(provider)
    if client is None:
        abort(404)
    # the OIDC_ISSUER provider keeps the redirect URI it was registered with: /login/oidc/callback
    callback = url_for(
        "auth.oidc_callback",
        provider=None if client.name == sso.SHORTHAND else client.name,
        _external=True,
    )
    return client.authorize_redirect(callback)


@bp.get("/login/oidc/callback", defaults={"provider": None})
@bp.get("/login/oidc/<provider>/callback")
def oidc_callback(provider: str | None):
    """Finish OpenID Connect sign-in: authlib verifies the response,
    ``sso.resolve_user`` picks the account.
    """
    client = oidc_client(provider)
    if client is None:
        abort(404)
    services = get_services()
    idp = oidc_providers()[client.name]
    try:
        # authlib checks state, the code exchange (PKCE), the id_token's signature, exp and nonce;
        # iss and aud only when asked (by default it accepts an id_token for another client whose
        # azp names us)
        issuer = client.load_server_metadata().get("issuer") or idp.issuer
        token = client.authorize_access_token(
            claims_options={
                "iss": {"essential": True, "values": [issuer]},
                "aud": {"essential": True, "values": [idp.client_id]},
            }
        )
    except (AuthlibBaseError, JoseError, requests.RequestException) as exc:
        reason = str(getattr(exc, "error", None) or type(exc).__name__)
        if getattr(exc, "claim", None):  # joserfc: which id_token claim failed (nonce, iss, aud...)
            reason += f":{exc.claim}"
        with services.db.session() as s:
            _oidc_refused(s, idp, reason[:80])
        flash(_("Something went wrong. Please try again in a moment."))
        return redirect(url_for("auth.login"))
    with services.db.session() as s:
        result = sso.resolve_user(s, idp, token.get("userinfo") or {})
        if result.user is None:
            _oidc_refused(s, idp, result.reason)
        elif result.created:
            services.audit.record(
                s, "user_created", user=result.user, details={"by": f"oidc:{idp.id}"}
            )
        elif result.role_changed_from:
            services.audit.record(
                s,
                "role_changed",
                user=result.user,
                details={
                    "by": f"oidc:{idp.id}",
                    "old": result.role_changed_from,
                    "new": result.user.role,
                },
            )
        user = result.user
    if user is None:
        flash(_("Your school account is not set up in Kateder. Ask your teacher or administrator."))
        return redirect(url_for("auth.login"))
    sign_in(user, "oidc")
    return redirect(url_for("auth.home"))


def _oidc_refused(s, idp: sso.IdentityProvider, reason: str) -> None:
    """A security event for a refused OpenID Connect sign-in (who is
    unknown; the school is the provider's).
    """
    get_services().audit.record(
        s,
        "login_failed",
        school_id=sso.school_id(s, idp),
        details={
            "method": f"oidc:{idp.id}",
            "reason": reason,
            "address": request.remote_addr or "-",
        },
    )

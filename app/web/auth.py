"""Signing in and out, the language switcher and the role-based start page."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from app import get_services
from app.language import LANGUAGES
from app.models import User
from app.security import WebUser, oidc_client
from app.services import accounts

bp = Blueprint("auth", __name__)

HOME_FOR_ROLE = {"student": "classroom.index", "teacher": "teacher.index", "admin": "teacher.index", "dpo": "dpo.index"}


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths are followed after signing in."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return None
    return target


def _sign_in(user: User, method: str) -> None:
    services = get_services()
    session.clear()  # a fresh session on sign-in (no fixation)
    login_user(WebUser.of(user))
    with services.db.session() as s:
        services.audit.record(s, "login", user=s.get(User, user.id), details={"method": method})


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
    error = None
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        with get_services().db.session() as s:
            user = accounts.authenticate(s, username, password)
        if user is None:
            error = _("Wrong username or password.")
        else:
            lang = session.get("lang")
            _sign_in(user, "password")
            if lang in LANGUAGES:
                session["lang"] = lang
            return redirect(_safe_next(request.args.get("next")) or url_for("auth.home"))
    status = 401 if error else 200
    return render_template("auth/login.html", error=error, oidc=oidc_client() is not None), status


@bp.post("/logout")
def logout():
    """Sign out and forget the session."""
    if current_user.is_authenticated:
        services = get_services()
        with services.db.session() as s:
            services.audit.record(s, "logout", user=s.get(User, current_user.id))
    logout_user()
    session.clear()
    flash(_("You are signed out."))
    return redirect(url_for("auth.login"))


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


@bp.get("/login/oidc")
def oidc_login():
    """Start sign-in with the school's OpenID Connect provider."""
    client = oidc_client()
    if client is None:
        abort(404)
    return client.authorize_redirect(url_for("auth.oidc_callback", _external=True))


@bp.get("/login/oidc/callback")
def oidc_callback():
    """Finish OpenID Connect sign-in; only existing, active accounts may sign in."""
    client = oidc_client()
    if client is None:
        abort(404)
    token = client.authorize_access_token()
    claims = token.get("userinfo") or {}
    username = claims.get("preferred_username") or claims.get("email")
    with get_services().db.session() as s:
        user = s.scalar(select(User).where(User.username == username)) if username else None
    if user is None or not user.active:
        flash(_("Your school account is not set up in Kateder. Ask your teacher or administrator."))
        return redirect(url_for("auth.login"))
    _sign_in(user, "oidc")
    return redirect(url_for("auth.home"))

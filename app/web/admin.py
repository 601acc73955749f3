"""The school admin's pages: security events, signing a user out
everywhere, LTI platform registrations.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import or_, select

from app.security import roles_required
from app.services import accounts, get_services, lti
from app.web.access import me
from core.models import AuditEvent, User

bp = Blueprint("admin", __name__, url_prefix="/admin")

# audit actions shown as security events (docs/operations.md)
SECURITY_ACTIONS = (
    "login_failed",
    "login_blocked",
    "upload_rejected",
    "sessions_revoked",
    "token_revoked",
    "password_changed",
    "role_changed",
)
# detail keys shown on the page (never text, never a password: none is stored)
SHOWN_DETAILS = (
    "method",
    "reason",
    "address",
    "blocked_seconds",
    "by",
    "sessions_ended",
    "tokens_revoked",
    "filename",
    "code",
    "size_bytes",
)


@bp.get("/security")
@roles_required("admin")
def security():
    """The latest security events of the admin's school (and sign-in
    failures for unknown usernames).
    """
    with get_services().db.session() as s:
        school_id = me(s).school_id
        events = s.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.action.in_(SECURITY_ACTIONS),
                or_(AuditEvent.school_id == school_id, AuditEvent.school_id.is_(None)),
            )
            .order_by(AuditEvent.id.desc())  # seq counts per chain; ids follow insertion order
            .limit(200)
        ).all()
        rows = [
            {
                "ts": e.ts,
                "action": e.action,
                "subject": e.subject,
                "role": e.role,
                "details": {k: v for k, v in (e.details or {}).items() if k in SHOWN_DETAILS},
            }
            for e in events
        ]
    return render_template("admin/security.html", events=rows)


@bp.post("/security/sign-out")
@roles_required("admin")
def sign_out_user():
    """End every session and API token of a user of the admin's school (a lost or shared device)."""
    username = request.form.get("username", "").strip()
    services = get_services()
    with services.db.session() as s:
        admin = me(s)
        user = (
            s.scalar(
                select(User).where(User.username == username, User.school_id == admin.school_id)
            )
            if username
            else None
        )
        if user is None:
            abort(404)
        ended = {
            "sessions_ended": accounts.end_all_sessions(s, user.id),
            "tokens_revoked": accounts.revoke_all_tokens(s, user.id),
        }
        services.audit.record(s, "sessions_revoked", user=user, details={"by": "admin", **ended})
    flash(_("%(username)s is signed out on every device.", username=username))
    return redirect(url_for("admin.security"))


def _registration_rows(s, school_id: int) -> list[dict]:
    """The school's registrations as the page shows them (never the private key)."""
    return [
        {
            "id": r.id,
            "label": r.label,
            "issuer": r.issuer,
            "client_id": r.client_id,
            "deployment_ids": r.deployment_ids,
            "keep_names": r.keep_names,
        }
        for r in lti.registrations(s, school_id)
    ]


@bp.get("/lti")
@roles_required("admin")
def lti_registrations():
    """The school's LTI 1.3 platforms, the tool URLs to give them, and a form to add one."""
    with get_services().db.session() as s:
        rows = _registration_rows(s, me(s).school_id)
    return render_template("admin/lti.html", registrations=rows, error=None, form={})


@bp.post("/lti")
@roles_required("admin")
def add_lti_registration():
    """Register a platform for the admin's school (Kateder makes the tool's key)."""
    f = request.form
    form = lti.RegistrationForm(
        issuer=f.get("issuer", ""),
        client_id=f.get("client_id", ""),
        auth_login_url=f.get("auth_login_url", ""),
        key_set_url=f.get("key_set_url", ""),
        auth_token_url=f.get("auth_token_url", ""),
        label=f.get("label", ""),
        deployment_ids=tuple(f.get("deployment_ids", "").replace(",", " ").split()),
        keep_names=f.get("keep_names") == "on",
    )
    services = get_services()
    with services.db.session() as s:
        admin = me(s)
        try:
            registration = lti.create_registration(s, admin.school, form)
        except lti.LtiError as exc:
            rows = _registration_rows(s, admin.school_id)
            return render_template(
                "admin/lti.html", registrations=rows, error=str(exc), form=f
            ), 400
        services.audit.record(
            s, "lti_registration_added", user=admin, details={"registration": registration.id}
        )
    flash(_("The platform is registered."))
    return redirect(url_for("admin.lti_registrations"))


@bp.post("/lti/<int:registration_id>/delete")
@roles_required("admin")
def delete_lti_registration(registration_id: int):
    """Remove a platform of the admin's school: its launches stop working."""
    services = get_services()
    with services.db.session() as s:
        admin = me(s)
        if not lti.delete_registration(s, admin.school_id, registration_id):
            abort(404)
        services.audit.record(
            s, "lti_registration_deleted", user=admin, details={"registration": registration_id}
        )
    flash(_("The platform registration is removed."))
    return redirect(url_for("admin.lti_registrations"))

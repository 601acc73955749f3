"""The school's crisis alerts by e-mail (school admins): on or off, the recipient, a test e-mail."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.security import roles_required
from app.services import alerts as alert_service
from app.services import get_services
from app.web.access import me
from app.web.teacher_base import bp

# the problems of app/services/alerts.py (AlertSettingsError.problem), in the user's language
ALERT_ERRORS = {
    "address": _l("Enter one e-mail address, like name@school.example."),
    "no_address": _l("E-mail alerts need a recipient address."),
}
# why a test e-mail was not sent (app/notify.py: NotifyError.code), for
# the school's admin in plain words
SMTP_ERRORS = {
    "no_server": _l(
        "This Kateder has no mail server set up, so no e-mail can be sent. "
        "Ask the operator to set one (SMTP_HOST)."
    ),
    "config": _l(
        "The mail settings of this Kateder contradict each other (a login without encryption), "
        "so nothing was sent. Ask the operator to check them."
    ),
    "connect": _l(
        "Kateder could not reach the mail server. Nothing was sent. Try again later, "
        "or ask the operator to check the mail server's address and port."
    ),
    "no_starttls": _l(
        "The mail server does not offer encryption (STARTTLS), "
        "and this Kateder only sends encrypted e-mail, so nothing was sent. "
        "Ask the operator to check the mail server."
    ),
    "tls": _l(
        "The encrypted connection to the mail server failed "
        "(for example, its certificate could not be verified), so nothing was sent. "
        "Ask the operator to check the mail server's certificate."
    ),
    "no_auth": _l(
        "The mail server does not accept the sign-in this Kateder is set up with, "
        "so nothing was sent. Ask the operator to check the mail settings."
    ),
    "login": _l(
        "The mail server refused the user name or password, so nothing was sent. "
        "Ask the operator to check them."
    ),
    "refused": _l(
        "The mail server refused the sender or the recipient address. "
        "Check the address, or ask the operator."
    ),
    "smtp": _l("The mail server did not accept the e-mail. Try again later, or ask the operator."),
}


@bp.get("/notifications")
@roles_required("admin")
def notifications():
    """The school's crisis alerts by e-mail: on or off, and the recipient."""
    services = get_services()
    with services.db.session() as s:
        current = alert_service.settings(me(s).school)
    return _notifications_page(
        {"enabled": current.enabled, "address": current.address or ""}, error=None
    )


def _notifications_page(
    values: dict, *, error: str | None, status: int = 200, sent: str | None = None
):
    config = get_services().config
    return render_template(
        "teacher/notifications.html",
        values=values,
        error=error,
        sent=sent,
        smtp=bool(config.get("SMTP_HOST")),
        public_url=config.get("PUBLIC_URL") or "",
    ), status


@bp.post("/notifications")
@roles_required("admin")
def save_notifications():
    """Save the school's crisis e-mail settings (audited without the address)."""
    values = {
        "enabled": request.form.get("enabled") == "on",
        "address": request.form.get("address", "").strip(),
    }
    services = get_services()
    with services.db.session() as s:
        admin = me(s)
        try:
            saved = alert_service.save_settings(
                admin.school, enabled=values["enabled"], address=values["address"]
            )
        except alert_service.AlertSettingsError as exc:
            s.rollback()
            return _notifications_page(values, error=str(ALERT_ERRORS[exc.problem]), status=400)
        services.audit.record(
            s, "alert_settings_changed", user=admin, details={"email": saved.enabled}
        )
    flash(_("The alert settings were saved."))
    return redirect(url_for("teacher.notifications"))


@bp.post("/notifications/test")
@roles_required("admin")
def test_notification():
    """Send a test e-mail (no personal data) to the school's saved
    recipient now, and show what happened.
    """
    from app.notify import NotifyError

    services = get_services()
    with services.db.session() as s:
        admin = me(s)
        school_id, admin_id = admin.school_id, admin.id
        current = alert_service.settings(admin.school)
    values = {"enabled": current.enabled, "address": current.address or ""}
    try:
        address = services.alerts.send_test(school_id, actor_id=admin_id)
    except alert_service.AlertSettingsError:
        return _notifications_page(
            values,
            error=_("Save a recipient address first, then send the test e-mail."),
            status=400,
        )
    except NotifyError as exc:
        return _notifications_page(
            values, error=str(SMTP_ERRORS.get(exc.code, SMTP_ERRORS["smtp"]))
        )
    return _notifications_page(
        values,
        error=None,
        sent=_(
            "A test e-mail was sent to %(address)s. If it does not arrive "
            "within a few minutes, look in the spam folder, then ask the "
            "operator.",
            address=address,
        ),
    )

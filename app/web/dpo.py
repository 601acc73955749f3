"""The DPO/admin panel: audit export, data-subject export and erasure,
retention, access log, models.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from app.params import parse_int
from app.security import roles_required
from app.services import get_services
from app.services.activity import activity
from app.services.audit_labels import detail_items, event_label, role_label
from app.services.model_inventory import models_in_use as inventory
from app.web.access import me
from core.models import AuditEvent, School, User

bp = Blueprint("dpo", __name__, url_prefix="/dpo")
OFFICERS = ("dpo", "admin")
CONTACT_MAX = 300  # characters of the DPO contact (schools.dpo_contact)
USE_LABELS = {"answers": _l("Answers"), "safety": _l("Safety check"), "search": _l("Search")}


def when(value: datetime | str | None) -> str:
    """A time in the user's language and time zone (from a datetime or an ISO string)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if value else None
    return format_datetime(value, "short") if value is not None else "—"


@bp.context_processor
def labels() -> dict:
    """Translated names of audit events, roles and details for the DPO
    templates (app/services/audit_labels.py).
    """
    return {
        "event_label": lambda action: event_label(action, _),
        "role_label": lambda role: role_label(role, _),
        "detail_items": lambda details: detail_items(details, _),
        "when": when,
        "USE_LABELS": USE_LABELS,
    }


def models_in_use() -> list[dict]:
    """One row per model the school's data passes through: use,
    name, version, licence, attribution.
    """
    return [
        {
            "use": m.use,
            "name": card.name,
            "version": card.version,
            "licence": card.licence,
            "attribution": card.attribution,
        }
        for m in inventory(get_services())
        for card in m.rows()
    ]


def _render_panel(
    status: int = 200, *, errors: dict[str, str] | None = None, form: dict[str, str] | None = None
):
    """The DPO panel; ``errors`` and ``form`` show a form's problem
    next to it, with what was typed kept.
    """
    from app.generation import licence_notices
    from app.services.retention import Retention

    services = get_services()
    with services.db.session() as s:
        school = me(s).school
        country, school_id = (school.country, school.id) if school else (None, None)
        contact = school.dpo_contact if school else None
    notices = licence_notices(services.generator.info, country, current_user.language)
    page = render_template(
        "dpo/index.html",
        models=models_in_use(),
        retention=Retention(services).table(),
        notices=notices,
        compactions=services.gdpr.compaction_jobs(school_id),
        dpo_contact=contact or "",
        contact_fallback=services.config.get("DPO_CONTACT") or "",
        errors=errors or {},
        form=form or {},
    )
    return page, status


@bp.get("/")
@roles_required(*OFFICERS)
def index():
    """Overview: exports, data-subject requests, retention, the DPO contact, models and licences."""
    return _render_panel()


@bp.get("/audit-export")
@roles_required(*OFFICERS)
def audit_export():
    """Download the school's audit chain as JSON Lines, with hashes;
    its verification status in the headers.

    The school's own chain, preceded by its events in the frozen legacy chain (before revision
    0009). ``X-Kateder-Audit-Chain-*`` headers carry the chain key, whether it verified, the
    head (seq and hash) and the problem if any; the head is anchored outside the database.
    """
    from app.services.audit import LEGACY, chain_key, event_to_dict, school_events, verify_school

    services = get_services()
    with services.db.session() as s:
        user = me(s)
        school_id = user.school_id
        services.audit.record(s, "audit_export", user=user)
    with services.db.session() as s:
        report = verify_school(s, school_id, services.audit.anchors())
        if report["ok"]:
            services.audit.anchor(s, [chain_key(school_id)])

    def lines():
        with services.db.session() as s:
            query = (
                select(AuditEvent)
                .where(school_events(school_id))
                .order_by(AuditEvent.chain != LEGACY, AuditEvent.seq)
            )
            for ev in s.scalars(query).yield_per(500):
                yield json.dumps(event_to_dict(ev), ensure_ascii=False, default=str) + "\n"

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    headers = {
        "Content-Disposition": f'attachment; filename="kateder-audit-{stamp}.jsonl"',
        "X-Kateder-Audit-Chain": chain_key(school_id),
        "X-Kateder-Audit-Chain-Verified": "true" if report["ok"] else "false",
        "X-Kateder-Audit-Chain-Head": f"{report.get('head_seq')}:{report.get('head')}",
    }
    if not report["ok"]:
        headers["X-Kateder-Audit-Chain-Problem"] = (
            f"event {report.get('first_bad_seq')}: {report['problem']}"[:500]
        )
    return Response(stream_with_context(lines()), mimetype="application/x-ndjson", headers=headers)


@bp.get("/dpia-export")
@roles_required(*OFFICERS)
def dpia_export():
    """Download the DPIA-ready bundle (record of processing, event log,
    statistics, report, manifest).
    """
    from app.services.dpia import build_export

    services = get_services()
    with services.db.session() as s:
        user = me(s)
        schools = s.scalar(select(func.count()).select_from(School))
        first = s.scalar(select(func.min(AuditEvent.ts)))
    if schools > 1:
        # the bundle covers the whole installation; with several
        # schools only the operator may build it
        flash(
            _(
                "This installation serves several schools, so the DPIA-ready export is built "
                "by the operator with kateder audit export."
            )
        )
        return redirect(url_for("dpo.index"))
    until = datetime.now(UTC) + timedelta(seconds=1)
    since = (
        first.replace(tzinfo=UTC) if first and first.tzinfo is None else first
    ) or until - timedelta(days=1)
    stamp = until.strftime("%Y%m%d-%H%M%S")
    out = Path(services.config["HOME"]) / "exports" / f"kateder-dpia-{stamp}.zip"
    build_export(
        services,
        since,
        until,
        out,
        requested_by=user.username,
        actor=user,
        school_id=user.school_id,
    )
    return send_file(out, mimetype="application/zip", as_attachment=True, download_name=out.name)


@bp.get("/access-log")
@roles_required(*OFFICERS)
def access_log():
    """Who signed in, opened conversations, exported or erased data
    (newest first), and whose data it was.
    """
    services = get_services()
    with services.db.session() as s:
        school_id = me(s).school_id
    return render_template(
        "dpo/access_log.html",
        events=activity(services, school_id, limit=200),
        opened=services.gdpr.access_log(school_id, limit=200),
    )


def _school_user_id(username: str) -> int | None:
    """The id of a user of the officer's own school, or None (unknown, or another school's)."""
    with get_services().db.session() as s:
        user = s.scalar(select(User).where(User.username == username))
        return user.id if user is not None and user.school_id == me(s).school_id else None


def _form_problem(form: str, message: str, status: int):
    """The panel again, the data-subject ``form`` showing ``message``
    and keeping the typed username.
    """
    username = request.form.get("username", "").strip()
    return _render_panel(status, errors={form: message}, form={f"{form}_username": username})


def _no_such_user(form: str, username: str):
    if not username:
        return _form_problem(form, _("Type the person's username."), 400)
    return _form_problem(
        form,
        _(
            "There is no user %(username)s at your school. Check the spelling: usernames are "
            "on the login cards and in the teacher's student list.",
            username=username,
        ),
        404,
    )


@bp.post("/subject/export")
@roles_required(*OFFICERS)
def subject_export():
    """Download everything stored about one user (Art. 15/20): the
    JSON, or the readable page (``format=html``).
    """
    username = request.form.get("username", "").strip()
    user_id = _school_user_id(username) if username else None
    if user_id is None:
        return _no_such_user("export", username)
    result = get_services().gdpr.export_subject(
        user_id, handled_by=current_user.username, actor_id=current_user.id
    )
    if request.form.get("format") == "html":
        return send_file(
            result.html_path,
            mimetype="text/html",
            as_attachment=True,
            download_name=f"kateder-subject-{result.subject[:12]}.html",
        )
    return send_file(
        result.json_path,
        mimetype="application/json",
        as_attachment=True,
        download_name=f"kateder-subject-{result.subject[:12]}.json",
    )


@bp.post("/subject/erase")
@roles_required(*OFFICERS)
def subject_erase():
    """Erase one user's personal data (the pseudonymous audit chain
    stays intact); vector compaction is queued.
    """
    if request.form.get("confirm") != "yes":
        return _form_problem(
            "erase", _("Tick the box to confirm that you understand erasure cannot be undone."), 400
        )
    username = request.form.get("username", "").strip()
    user_id = _school_user_id(username) if username else None
    if user_id is None:
        return _no_such_user("erase", username)
    if user_id == current_user.id:
        return _form_problem("erase", _("You cannot erase your own account here."), 400)
    services = get_services()
    # the vector rebuild can take minutes: it is a background job
    # (status below the form), not part of this request
    receipt = services.gdpr.erase_subject(
        user_id, handled_by=current_user.username, queue_compaction=True, actor_id=current_user.id
    )
    if receipt.get("vector_compaction_jobs"):
        services.start_job_thread()
        flash(
            _(
                "The account and its personal data were erased. The search index is being "
                "cleaned up in the background; its status is shown below."
            )
        )
    else:
        flash(_("The account and its personal data were erased."))
    return redirect(url_for("dpo.index"))


@bp.post("/settings")
@roles_required(*OFFICERS)
def settings():
    """Save the school's DPO contact, printed in the DPIA report and
    the readable data-subject export.
    """
    contact = " ".join(request.form.get("dpo_contact", "").split())
    if len(contact) > CONTACT_MAX:
        return _render_panel(
            400,
            errors={"contact": _("The contact can be at most %(n)s characters.", n=CONTACT_MAX)},
            form={"dpo_contact": contact},
        )
    services = get_services()
    with services.db.session() as s:
        user = me(s)
        school = s.get(School, user.school_id)
        if (school.dpo_contact or "") != contact:
            school.dpo_contact = contact or None
            services.audit.record(
                s, "dpo_contact_changed", user=user, details={"dpo_contact": contact}
            )
    flash(
        _("The DPO contact was saved.")
        if contact
        else _("The DPO contact was cleared; the server's setting is used.")
    )
    return redirect(url_for("dpo.index"))


@bp.post("/retention")
@roles_required(*OFFICERS)
def retention():
    """Save retention periods (days per data category); legal minimums are enforced."""
    from app.services.retention import BY_KEY, Retention, RetentionError

    updates = {}
    for key, value in request.form.items():
        if key.startswith("days_") and key.removeprefix("days_") in BY_KEY:
            days = parse_int(value, low=0, high=36500)
            if days is None:
                abort(400)
            updates[key.removeprefix("days_")] = days
    if not updates:
        abort(400)
    service = Retention(get_services())
    current = service.settings()
    with get_services().db.session() as s:
        actor = me(s)
    # longer periods first, so "audit_events >= audit_details" holds at every step
    for category, days in sorted(updates.items(), key=lambda kv: -kv[1]):
        if current.get(category) != days:
            try:
                service.set(category, days, actor=actor)
            except RetentionError as exc:
                flash(str(exc))
                return redirect(url_for("dpo.index"))
    flash(_("Retention settings saved."))
    return redirect(url_for("dpo.index"))

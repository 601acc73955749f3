"""The DPO/admin panel: audit export, data-subject export and erasure, retention, access log, models."""

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
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from app import get_services
from app.params import parse_int
from app.security import roles_required
from app.web.access import me
from core.models import AuditEvent, User

bp = Blueprint("dpo", __name__, url_prefix="/dpo")
OFFICERS = ("dpo", "admin")
ACCESS_ACTIONS = ("login", "logout", "admin_view", "audit_export", "dsar_export", "erasure", "retention_change",
                  "retention_purge", "students_created", "policy_changed", "review")


# licences of the models Kateder ships or points at, by a part of their name (when the component does not say)
KNOWN_LICENCES = {
    "minilm": "Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)",
    "e5": "MIT (intfloat/multilingual-e5-small)",
    "llamaguard": "Llama 3.1/3.2 Community License (Meta Llama Guard 3)",
    "smollm2": "Apache-2.0 (HuggingFaceTB/SmolLM2-135M-Instruct)",
}


def _licence(component, *names: str) -> str:
    """The component's own licence, else a known one by name, else empty."""
    own = getattr(getattr(component, "info", None), "licence", None) or getattr(component, "licence", None)
    if own:
        return own
    text = " ".join(n for n in names if n).lower().replace("-", "")
    return next((licence for key, licence in KNOWN_LICENCES.items() if key.replace("-", "") in text), "")


def models_in_use() -> list[dict]:
    """Name, role and licence of every model the school's data passes through."""
    services = get_services()
    info = services.generator.info
    guard, embedder = services.guard, services.embedder
    guard_name = getattr(getattr(guard, "info", None), "name", None) or getattr(guard, "name", type(guard).__name__)
    guard_model = str(getattr(guard, "model_path", "") or getattr(guard, "model", "") or "")
    embedder_name = getattr(embedder, "name", type(embedder).__name__)
    return [
        {"role": _("Answers"), "name": info.name, "licence": info.licence or _licence(None, info.name),
         "attribution": getattr(info, "attribution", "")},
        {"role": _("Safety check"), "name": guard_name + (f" ({guard_model})" if guard_model else ""),
         "licence": _licence(guard, guard_name, guard_model), "attribution": ""},
        {"role": _("Search"), "name": embedder_name, "licence": _licence(embedder, embedder_name), "attribution": ""},
    ]


@bp.get("/")
@roles_required(*OFFICERS)
def index():
    """Overview: models and licences, exports, data-subject requests, retention."""
    from app.generation import licence_notices
    from app.services.retention import Retention

    services = get_services()
    with services.db.session() as s:
        user = me(s)
        country = user.school.country if user.school else None
        school_id = user.school_id
    notices = licence_notices(services.generator.info, country, current_user.language)
    return render_template("dpo/index.html", models=models_in_use(), retention=Retention(services).table(), notices=notices,
                           compactions=services.gdpr.compaction_jobs(school_id))


@bp.get("/audit-export")
@roles_required(*OFFICERS)
def audit_export():
    """Download the school's audit events as JSON Lines, with hashes for verification."""
    services = get_services()
    with services.db.session() as s:
        user = me(s)
        school_id = user.school_id
        services.audit.record(s, "audit_export", user=user)

    def lines():
        with services.db.session() as s:
            for ev in s.scalars(select(AuditEvent).where(AuditEvent.school_id == school_id).order_by(AuditEvent.seq)).yield_per(500):
                yield json.dumps({
                    "seq": ev.seq, "ts": ev.ts.isoformat(), "subject": ev.subject, "role": ev.role, "school_id": ev.school_id,
                    "course_id": ev.course_id, "action": ev.action, "details": ev.details, "prev_hash": ev.prev_hash, "hash": ev.hash,
                }, ensure_ascii=False, default=str) + "\n"

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Response(stream_with_context(lines()), mimetype="application/x-ndjson",
                    headers={"Content-Disposition": f'attachment; filename="kateder-audit-{stamp}.jsonl"'})


@bp.get("/dpia-export")
@roles_required(*OFFICERS)
def dpia_export():
    """Download the DPIA-ready bundle (record of processing, event log, statistics, report, manifest)."""
    from app.services.dpia import build_export
    from core.models import School

    services = get_services()
    with services.db.session() as s:
        user = me(s)
        schools = s.scalar(select(func.count()).select_from(School))
        first = s.scalar(select(func.min(AuditEvent.ts)))
    if schools > 1:
        # the bundle covers the whole installation; with several schools only the operator may build it
        flash(_("This installation serves several schools, so the DPIA-ready export is built by the operator with kateder audit export."))
        return redirect(url_for("dpo.index"))
    until = datetime.now(UTC) + timedelta(seconds=1)
    since = (first.replace(tzinfo=UTC) if first and first.tzinfo is None else first) or until - timedelta(days=1)
    stamp = until.strftime("%Y%m%d-%H%M%S")
    out = Path(services.config["HOME"]) / "exports" / f"kateder-dpia-{stamp}.zip"
    build_export(services, since, until, out, requested_by=user.username, actor=user)
    return send_file(out, mimetype="application/zip", as_attachment=True, download_name=out.name)


@bp.get("/access-log")
@roles_required(*OFFICERS)
def access_log():
    """Who signed in, opened conversations, exported or erased data (newest first)."""
    services = get_services()
    with services.db.session() as s:
        school_id = me(s).school_id
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.school_id == school_id, AuditEvent.action.in_(ACCESS_ACTIONS))
            .order_by(AuditEvent.seq.desc()).limit(200)
        ).all()
        return render_template("dpo/access_log.html", events=events, opened=services.gdpr.access_log(school_id, limit=200))


def _school_user_id(username: str) -> int:
    """A user of the officer's own school (404 otherwise)."""
    with get_services().db.session() as s:
        user = s.scalar(select(User).where(User.username == username.strip()))
        if user is None or user.school_id != me(s).school_id:
            abort(404)
        return user.id


@bp.post("/subject/export")
@roles_required(*OFFICERS)
def subject_export():
    """Download everything stored about one user (data-subject access request, Art. 15/20)."""
    user_id = _school_user_id(request.form.get("username", ""))
    result = get_services().gdpr.export_subject(user_id, handled_by=current_user.username)
    return send_file(result.json_path, mimetype="application/json", as_attachment=True,
                     download_name=f"kateder-subject-{result.subject[:12]}.json")


@bp.post("/subject/erase")
@roles_required(*OFFICERS)
def subject_erase():
    """Erase one user's personal data (the pseudonymous audit chain stays intact); vector compaction is queued."""
    if request.form.get("confirm") != "yes":
        abort(400)
    user_id = _school_user_id(request.form.get("username", ""))
    if user_id == current_user.id:
        abort(400)
    services = get_services()
    # the vector rebuild can take minutes: it is a background job (status below the form), not part of this request
    receipt = services.gdpr.erase_subject(user_id, handled_by=current_user.username, queue_compaction=True)
    if receipt.get("vector_compaction_jobs"):
        services.start_job_thread()
        flash(_("The account and its personal data were erased. The search index is being cleaned up in the background; its status is shown below."))
    else:
        flash(_("The account and its personal data were erased."))
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

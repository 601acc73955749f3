"""The teacher panel's material page: uploads and their status,
near-duplicate titles, held passages.

The upload itself goes through the JSON API (app/api/material.py); static/teacher.js polls
these views.
"""

from __future__ import annotations

from dataclasses import asdict

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from app.security import roles_required
from app.services import get_services, material
from app.services.review import review_queue
from app.web.access import me, teacher_course
from app.web.filters import STATUS_LABELS
from app.web.teacher_base import TEACHERS, bp, writable_course
from core.models import Passage


@bp.get("/<code>")
@roles_required(*TEACHERS)
def course(code: str):
    """Material: upload with progress bars, status, held passages; the
    list refreshes itself (static/teacher.js).
    """
    with get_services().db.session() as s:
        c = teacher_course(s, code)
        held = s.scalars(
            select(Passage)
            .where(Passage.course_id == c.id, Passage.status == "held")
            .order_by(Passage.id)
        ).all()
        critical = sum(1 for item in review_queue(s, [c.id]) if item["critical"])
        return render_template(
            "teacher/material.html",
            course=c,
            documents=material.documents(s, c.id),
            held=held,
            active=material.active_jobs(s, c.id),
            critical=critical,
            tab="material",
        )


@bp.get("/<code>/material/documents")
@roles_required(*TEACHERS)
def material_documents(code: str):
    """The material list as JSON with translated statuses, and how
    many uploads are still running.
    """
    with get_services().db.session() as s:
        c = teacher_course(s, code)
        rows, active = material.documents(s, c.id), material.active_jobs(s, c.id)
    return jsonify(
        active=active,
        documents=[
            {**asdict(r), "status_label": str(STATUS_LABELS.get(r.status, r.status))} for r in rows
        ],
    )


@bp.get("/<code>/material/similar")
@roles_required(*TEACHERS)
def similar_titles(code: str):
    """Documents of the course whose title is close to ``?name=`` (a
    file about to be uploaded): warnings, never a refusal.
    """
    name = request.args.get("name", "").strip()[:300]
    with get_services().db.session() as s:
        c = teacher_course(s, code)
        matches = material.similar_titles(s, c.id, name) if name else []
    warnings = [
        _(
            "“%(name)s” replaces the current version of “%(title)s” (same file name).",
            name=name,
            title=m.title,
        )
        if m.same_file
        else _(
            "“%(name)s” looks like “%(title)s” (%(filename)s), already in this course. "
            "It will be added as a separate document; "
            "to replace that one, upload a file with the same name.",
            name=name,
            title=m.title,
            filename=m.filename,
        )
        for m in matches
    ]
    return jsonify(name=name, matches=[asdict(m) for m in matches], warnings=warnings)


@bp.post("/<code>/passages/<passage_id>")
@roles_required(*TEACHERS)
def passage(code: str, passage_id: str):
    """Release a held passage (it becomes searchable) or reject it."""
    from ingest.errors import IngestError

    services = get_services()
    with services.db.session() as s:
        c = writable_course(s, code)
        decision = request.form.get("decision")
        if decision not in ("release", "reject"):
            abort(400)
        p = s.get(Passage, passage_id)
        if p is None or p.course_id != c.id or p.status != "held":
            abort(404)
        actor = me(s)
    try:
        (
            services.ingest.release_passage
            if decision == "release"
            else services.ingest.reject_passage
        )(passage_id)
    except IngestError:
        abort(404)
    with services.db.session() as s:
        services.audit.record(
            s, f"{decision}_passage", user=actor, course_id=c.id, details={"passage_id": passage_id}
        )
    flash(
        _("The passage was released.") if decision == "release" else _("The passage was rejected.")
    )
    return redirect(url_for("teacher.course", code=code))

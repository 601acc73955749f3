"""What the course's students asked: the review queue, opening a
conversation (with a reason), the month's usage.
"""

from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from app.security import roles_required
from app.services import get_services, usage
from app.services.review import by_student, review_queue, with_previews
from app.web.access import me, teacher_course
from app.web.teacher_base import TEACHERS, bp
from core.models import Conversation, GuardVerdict, User


@bp.get("/<code>/review")
@roles_required(*TEACHERS)
def review(code: str):
    """Flagged questions and answers, self-harm first."""
    with get_services().db.session() as s:
        c = teacher_course(s, code)
        items = with_previews(s, review_queue(s, [c.id]), get_services().gdpr)
        return render_template(
            "teacher/review.html", course=c, items=items, groups=by_student(items), tab="review"
        )


@bp.get("/<code>/review/counts")
@roles_required(*TEACHERS)
def review_counts(code: str):
    """The queue's counts (no text), polled by the open review page to update itself live."""
    with get_services().db.session() as s:
        c = teacher_course(s, code)
        items = review_queue(s, [c.id])
    total, critical = len(items), sum(1 for item in items if item["critical"])
    students = len({item["student"] for item in items})
    text = (
        ngettext("%(num)d item to review", "%(num)d items to review", total)
        + " · "
        + ngettext("%(num)d student", "%(num)d students", students)
    )
    return jsonify(total=total, critical=critical, students=students, text=text)


@bp.post("/<code>/review/<int:verdict_id>")
@roles_required(*TEACHERS)
def mark(code: str, verdict_id: int):
    """Mark a flagged item as a false positive or confirm it."""
    decision = request.form.get("decision")
    services = get_services()
    with services.db.session() as s:
        c = teacher_course(s, code)
        v = s.get(GuardVerdict, verdict_id)
        if v is None or v.course_id != c.id:
            abort(404)
        if decision not in ("false_positive", "confirmed"):
            abort(400)
        v.reviewed = decision
        services.audit.record(
            s,
            "review",
            user=me(s),
            course_id=c.id,
            details={"verdict_id": v.id, "decision": decision},
        )
    flash(_("Marked as a false positive.") if decision == "false_positive" else _("Confirmed."))
    return redirect(url_for("teacher.review", code=code))


@bp.post("/<code>/conversations/<int:conversation_id>")
@roles_required(*TEACHERS)
def open_conversation(code: str, conversation_id: int):
    """Read a student's conversation: only with a written reason, which is logged first."""
    from app.services.gdpr import GdprError

    services = get_services()
    with services.db.session() as s:
        c = teacher_course(s, code)
        conv = s.get(Conversation, conversation_id)
        if conv is None or conv.course_id != c.id:
            abort(404)
        student = s.get(User, conv.user_id)
    try:
        opened = services.gdpr.open_conversation(
            current_user.id, conversation_id, request.form.get("reason", ""), current_user.language
        )
    except GdprError as exc:
        flash(exc.message)
        return redirect(url_for("teacher.review", code=code))
    return render_template(
        "teacher/conversation.html",
        course=c,
        opened=opened,
        student=student.username if student else "?",
        tab="review",
    )


@bp.get("/<code>/usage")
@roles_required(*TEACHERS)
def stats(code: str):
    """The month (``?month=YYYY-MM``): question counts, most asked and
    unanswered questions, charts (server-side SVG).
    """
    services = get_services()
    with services.db.session() as s:
        c = teacher_course(s, code)
        month = usage.parse_month(request.args.get("month"))
        data = usage.month_usage(s, c.id, month, read_text=services.gdpr.read_text)
        this_month = usage.parse_month(None)
        before = (month - timedelta(days=1)).replace(day=1)
        after = usage.next_month(month) if month < this_month else None
        return render_template(
            "teacher/usage.html",
            course=c,
            data=data,
            before=before,
            after=after,
            min_students=usage.MIN_STUDENTS,
            tab="usage",
        )

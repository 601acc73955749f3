"""The teacher panel (``/teach``): the teacher's courses, making and copying one, archiving.

The panel is one blueprint, ``teacher`` (app/web/teacher_base.py), and its views are split by
concept; importing this module registers all of them:

- here: the course list, a new or copied course, archive and restore, the alert badge's poll
- app/web/teacher_material.py: the material page, upload status, similar titles, held passages
- app/web/teacher_students.py: students, login cards, password resets, removing a student
- app/web/teacher_policy.py: the moderation policy and the age presets
- app/web/teacher_review.py: the review queue, opening a conversation, the month's usage
- app/web/teacher_notifications.py: the school's crisis e-mail alerts (school admins)
"""

from __future__ import annotations

from collections import Counter

from flask import abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.security import roles_required
from app.services import accounts, get_services
from app.services import courses as course_service
from app.services.review import review_queue
from app.web import (
    teacher_material,
    teacher_notifications,
    teacher_policy,
    teacher_review,
    teacher_students,
)
from app.web.access import me, teachable_course_ids, teacher_course
from app.web.teacher_base import TEACHERS, bp
from core.language import LANGUAGES
from core.models import Course
from guard.policy import AGE_BANDS

# the modules whose views register on ``bp`` when imported (above)
VIEW_MODULES = (
    teacher_material,
    teacher_students,
    teacher_policy,
    teacher_review,
    teacher_notifications,
)

# the problems of app/services/courses.py (CourseError.problem), in the user's language
COURSE_ERRORS = {
    "code": _l("The course code must have 2-40 characters: letters, digits, - or _."),
    "title": _l("The course name must have 1-200 characters."),
    "language": _l("Unknown language “%(value)s”; choose one of %(choices)s."),
    "age_band": _l("Unknown age band “%(value)s”; choose one of %(choices)s."),
    "country": _l("Unknown country “%(value)s”; choose one of %(choices)s."),
    "taken": _l("The course code “%(value)s” is taken; choose another one."),
}


@bp.get("/")
@roles_required(*TEACHERS)
def index():
    """The teacher's courses with join codes and unreviewed alerts."""
    with get_services().db.session() as s:
        ids = teachable_course_ids(s, me(s))
        courses = (
            s.scalars(select(Course).where(Course.id.in_(ids)).order_by(Course.title)).all()
            if ids
            else []
        )
        queue = review_queue(s, ids)
        counts = Counter(item["course_id"] for item in queue)
        critical = Counter(item["course_id"] for item in queue if item["critical"])
        return render_template(
            "teacher/index.html", courses=courses, counts=counts, critical=critical
        )


def _course_form() -> dict[str, str]:
    form = request.form
    return {
        key: form.get(key, "").strip()
        for key in ("code", "title", "language", "age_band", "country")
    }


@bp.get("/courses/new")
@roles_required(*TEACHERS)
def new_course():
    """The form for a new course (or a copy of ``?from=CODE``)."""
    with get_services().db.session() as s:
        source = teacher_course(s, request.args["from"]) if request.args.get("from") else None
        values = {
            "code": "",
            "title": "",
            "language": source.language if source else me(s).language,
            "age_band": "13-15",
            "country": me(s).school.country,
        }
        return render_template(
            "teacher/course_new.html",
            source=source,
            values=values,
            languages=LANGUAGES,
            age_bands=AGE_BANDS,
            countries=course_service.COUNTRIES,
            error=None,
        )


@bp.post("/courses")
@roles_required(*TEACHERS)
def create_course():
    """Create (or copy) a course; the teacher is enrolled in it and lands on its material page."""
    values = _course_form()
    services = get_services()
    with services.db.session() as s:
        teacher = me(s)
        source = teacher_course(s, request.form["source"]) if request.form.get("source") else None
        try:
            if source is not None:
                c = course_service.copy_course(
                    s, source, code=values["code"], title=values["title"], teacher=teacher
                )
            else:
                c = course_service.new_course(s, school=teacher.school, teacher=teacher, **values)
        except accounts.AccountError as exc:
            s.rollback()
            return render_template(
                "teacher/course_new.html",
                source=source,
                values=values,
                languages=LANGUAGES,
                age_bands=AGE_BANDS,
                countries=course_service.COUNTRIES,
                error=_course_error(exc),
            ), 400
        services.audit.record(
            s,
            "course_created",
            user=teacher,
            course_id=c.id,
            details={"code": c.code, "copied_from": source.code if source else None, "via": "web"},
        )
        code = c.code
    flash(_("The course was created."))
    return redirect(url_for("teacher.course", code=code))


def _course_error(exc: accounts.AccountError) -> str:
    """The problem in the user's language (a :class:`CourseError`), else the service's own text."""
    if isinstance(exc, course_service.CourseError) and exc.problem in COURSE_ERRORS:
        return str(COURSE_ERRORS[exc.problem]) % exc.params
    return str(exc)


@bp.post("/<code>/archive")
@roles_required(*TEACHERS)
def archive(code: str):
    """Archive (``decision=archive``) or restore (``decision=restore``) a course."""
    decision = request.form.get("decision")
    services = get_services()
    with services.db.session() as s:
        c = teacher_course(s, code)  # authorise before validating
        if decision not in ("archive", "restore"):
            abort(400)
        changed = (
            course_service.archive_course
            if decision == "archive"
            else course_service.restore_course
        )(c)
        if changed:
            services.audit.record(
                s, f"course_{decision}d", user=me(s), course_id=c.id, details={"code": c.code}
            )
    flash(
        _("The course was archived. Students no longer see it.")
        if decision == "archive"
        else _("The course was restored.")
    )
    return redirect(url_for("teacher.index"))


@bp.get("/alerts")
@roles_required(*TEACHERS)
def alerts():
    """Unreviewed critical alerts per course, polled by the teacher's open pages."""
    with get_services().db.session() as s:
        ids = teachable_course_ids(s, me(s))
        critical = Counter(item["course_id"] for item in review_queue(s, ids) if item["critical"])
        codes = (
            dict(s.execute(select(Course.id, Course.code).where(Course.id.in_(ids))).all())
            if ids
            else {}
        )
    courses = [
        {"code": codes[cid], "critical": n, "url": url_for("teacher.review", code=codes[cid])}
        for cid, n in critical.items()
    ]
    return jsonify(critical=sum(critical.values()), courses=courses)

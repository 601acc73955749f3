"""The teacher panel's students: pseudonymous accounts, their one-time
login cards, password resets, removal.
"""

from __future__ import annotations

import secrets

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from app.params import parse_int
from app.security import roles_required
from app.services import accounts, get_services
from app.web.access import me, teacher_course
from app.web.teacher_base import TEACHERS, bp, writable_course
from core.models import Course, User

MAX_CARDS = 40
CARDS_KEY = "login_cards"  # the one-time passwords, kept in the session until shown once


@bp.get("/<code>/students")
@roles_required(*TEACHERS)
def students(code: str):
    """The course's students (pseudonymous usernames)."""
    with get_services().db.session() as s:
        c = teacher_course(s, code)
        people = [e.user for e in c.enrolments if e.user.role == "student"]
        return render_template(
            "teacher/students.html",
            course=c,
            students=sorted(people, key=lambda u: u.username),
            tab="students",
        )


@bp.post("/<code>/students")
@roles_required(*TEACHERS)
def create_students(code: str):
    """Create pseudonymous student accounts and show their printable login cards once."""
    raw = request.form.get("count", "")
    services = get_services()
    cards = []
    with services.db.session() as s:
        c = writable_course(s, code)
        count = parse_int(raw, low=1, high=MAX_CARDS)
        if count is None:
            abort(400)
        school = c.school
        for _i in range(count):
            username = f"{c.code.lower()}-{secrets.token_hex(3)}"
            password = _new_password()
            user = accounts.create_user(
                s, school, username, password, "student", language=c.language
            )
            accounts.enrol(s, user, c)
            cards.append({"username": username, "password": password})
        services.audit.record(
            s, "students_created", user=me(s), course_id=c.id, details={"count": len(cards)}
        )
    return _show_cards_once(code, cards)


def _new_password() -> str:
    return "-".join(secrets.token_hex(2) for _j in range(3))


def _show_cards_once(code: str, cards: list[dict]):
    """Post/Redirect/Get: the cards wait in the session and the GET page shows them once."""
    session[CARDS_KEY] = {"course": code, "cards": cards}
    return redirect(url_for("teacher.cards", code=code))


@bp.get("/<code>/cards")
@roles_required(*TEACHERS)
def cards(code: str):
    """The login cards just made, once: a reload shows that they were
    already shown and creates nothing.
    """
    pending = session.pop(CARDS_KEY, None)
    with get_services().db.session() as s:
        c = teacher_course(s, code)
        shown = pending["cards"] if pending and pending.get("course") == code else []
        return render_template(
            "teacher/cards.html",
            course=c,
            cards=shown,
            login_url=url_for("auth.login", _external=True),
        )


def _course_student(s, c: Course, username: str) -> User:
    """A student of this course, or 404."""
    user = next(
        (e.user for e in c.enrolments if e.user.role == "student" and e.user.username == username),
        None,
    )
    if user is None:
        abort(404)
    return user


@bp.post("/<code>/students/<username>/password")
@roles_required(*TEACHERS)
def reset_password(code: str, username: str):
    """A new password for one student: the old one and all their
    sessions end; a new login card is shown once.
    """
    services = get_services()
    password = _new_password()
    with services.db.session() as s:
        c = writable_course(s, code)
        student = _course_student(s, c, username)
        result = accounts.change_password(
            s, student, password, accounts.Throttle(pepper=services.audit.pseudonymizer.key)
        )
        services.audit.record(
            s, "password_changed", user=student, course_id=c.id, details={"by": "teacher", **result}
        )
    return _show_cards_once(code, [{"username": username, "password": password}])


@bp.post("/<code>/students/<username>/remove")
@roles_required(*TEACHERS)
def remove_student(code: str, username: str):
    """Remove a student: the GDPR erasure (account, conversations,
    keys); the form needs the typed username.
    """
    services = get_services()
    with services.db.session() as s:
        c = writable_course(s, code)
        student = _course_student(s, c, username)
        if request.form.get("confirm", "").strip() != username:
            flash(_("Type the student's username to confirm the removal."))
            return redirect(url_for("teacher.students", code=code))
        student_id, course_id = student.id, c.id
    receipt = services.gdpr.erase_subject(student_id, handled_by="teacher", queue_compaction=True)
    with services.db.session() as s:
        services.audit.record(
            s,
            "student_removed",
            user=me(s),
            course_id=course_id,
            details={"subject": receipt["subject"]},
        )
    flash(_("The student was removed and their data erased."))
    return redirect(url_for("teacher.students", code=code))

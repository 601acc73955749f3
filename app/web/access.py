"""Who may see what: every browser view resolves its course through these checks."""

from __future__ import annotations

from flask import abort
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services import accounts
from core.models import Course, Enrolment, User


def me(s: Session) -> User:
    """The signed-in user's row."""
    user = s.get(User, current_user.id)
    if user is None:
        abort(403)
    return user


def _course(s: Session, code: str, allowed) -> Course:
    """The course with ``code``: 404 if unknown, 403 unless ``allowed(session, user, course)``."""
    course = s.scalar(select(Course).where(Course.code == code))
    if course is None:
        abort(404)
    if not allowed(s, me(s), course):
        abort(403)
    return course


def student_course(s: Session, code: str) -> Course:
    """A course the signed-in user may ask in; 404 if unknown, 403 if not enrolled."""
    return _course(s, code, accounts.can_ask)


def teacher_course(s: Session, code: str) -> Course:
    """A course the signed-in teacher teaches (admins: any course of their school)."""
    return _course(s, code, accounts.can_teach)


def teachable_course_ids(s: Session, user: User) -> list[int]:
    """Ids of the courses this user may manage."""
    if user.role == "admin":
        return list(s.scalars(select(Course.id).where(Course.school_id == user.school_id)))
    if user.role != "teacher":
        return []
    return list(
        s.scalars(
            select(Course.id)
            .join(Enrolment, Enrolment.course_id == Course.id)
            .where(Enrolment.user_id == user.id, Course.school_id == user.school_id)
        )
    )


def enrolled_courses(s: Session, user: User) -> list[Course]:
    """The courses a user is enrolled in, by title."""
    return list(
        s.scalars(
            select(Course)
            .join(Enrolment, Enrolment.course_id == Course.id)
            .where(
                Enrolment.user_id == user.id,
                Course.school_id == user.school_id,
                Course.archived_at.is_(None),
            )
            .order_by(Course.title)
        )
    )

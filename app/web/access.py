"""Who may see what: every browser view resolves its course through these checks."""

from __future__ import annotations

from flask import abort
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Course, Enrolment, User
from app.services import accounts


def me(s: Session) -> User:
    """The signed-in user's row."""
    user = s.get(User, current_user.id)
    if user is None:
        abort(403)
    return user


def student_course(s: Session, code: str) -> Course:
    """A course the signed-in user may ask in; 404 if unknown, 403 if not enrolled."""
    course = s.scalar(select(Course).where(Course.code == code))
    if course is None:
        abort(404)
    if not accounts.can_ask(s, me(s), course):
        abort(403)
    return course


def teacher_course(s: Session, code: str) -> Course:
    """A course the signed-in teacher teaches (admins: any course of their school)."""
    course = s.scalar(select(Course).where(Course.code == code))
    if course is None:
        abort(404)
    if not accounts.can_teach(s, me(s), course):
        abort(403)
    return course


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
            .where(Enrolment.user_id == user.id, Course.school_id == user.school_id)
            .order_by(Course.title)
        )
    )

"""Schools, users, courses, enrolments and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from app.models import ROLES, ApiToken, Course, Enrolment, School, User, utcnow


class AccountError(ValueError):
    """A user-facing problem with an account operation."""


def create_school(session: Session, name: str, country: str = "SE") -> School:
    """Add a school."""
    school = School(name=name, country=country.upper())
    session.add(school)
    session.flush()
    return school


def create_user(session: Session, school: School, username: str, password: str, role: str, **fields) -> User:
    """Add a user with a scrypt password hash."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if session.scalar(select(User).where(User.username == username)):
        raise AccountError(f"username {username!r} is taken")
    user = User(school_id=school.id, username=username, password_hash=generate_password_hash(password), role=role, **fields)
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    """Replace a user's password."""
    user.password_hash = generate_password_hash(password)


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        return None
    return user


def create_course(session: Session, school: School, code: str, title: str, language: str = "en", **fields) -> Course:
    """Add a course with a fresh join code."""
    if session.scalar(select(Course).where(Course.code == code)):
        raise AccountError(f"course code {code!r} is taken")
    course = Course(school_id=school.id, code=code, title=title, language=language, join_code=secrets.token_hex(3).upper(), **fields)
    session.add(course)
    session.flush()
    return course


def enrol(session: Session, user: User, course: Course, role: str | None = None) -> Enrolment:
    """Enrol a user in a course (idempotent)."""
    existing = session.scalar(select(Enrolment).where(Enrolment.user_id == user.id, Enrolment.course_id == course.id))
    if existing:
        return existing
    enrolment = Enrolment(user_id=user.id, course_id=course.id, role=role or ("teacher" if user.role == "teacher" else "student"))
    session.add(enrolment)
    session.flush()
    return enrolment


def can_ask(session: Session, user: User, course: Course) -> bool:
    """Students and teachers enrolled in the course may ask in it."""
    if user.school_id != course.school_id:
        return False
    return session.scalar(select(Enrolment.id).where(Enrolment.user_id == user.id, Enrolment.course_id == course.id)) is not None


def can_teach(session: Session, user: User, course: Course) -> bool:
    """Teachers of the course and school admins may manage its material."""
    if user.school_id != course.school_id:
        return False
    if user.role == "admin":
        return True
    return user.role == "teacher" and can_ask(session, user, course)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, ttl_hours: int = 12) -> str:
    """Create a bearer token; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_token_digest(token), expires_at=utcnow() + timedelta(hours=ttl_hours)))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    """The user a valid, unexpired token belongs to."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_digest(token)))
    if row is None:
        return None
    expires = row.expires_at
    if expires is not None:
        if expires.tzinfo is None:
            from datetime import UTC

            expires = expires.replace(tzinfo=UTC)
        if expires < utcnow():
            return None
    user = session.get(User, row.user_id)
    return user if user is not None and user.active else None

"""Courses for people: create, copy and archive (shared by the teacher panel and
``kateder course``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services.accounts import AccountError, create_course, enrol
from core.language import LANGUAGES
from core.models import Course, School, User
from guard.policy import AGE_BANDS, CoursePolicy

COUNTRIES = ("SE", "NO", "DE", "IT", "GB")
CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,39}$")


class CourseError(AccountError):
    """A bad field of a new course: ``problem`` names it and ``params`` fill its message.

    Its stable code is ``course_<problem>`` (400, like every :class:`AccountError`). The
    English text (``str(exc)``) is for the CLI, the API and logs; the teacher panel shows
    its own translation of ``problem`` (app/web/teacher.py: ``COURSE_ERRORS``).
    """

    MESSAGES = {
        "code": "the course code must be 2-40 letters, digits, '-' or '_'",
        "title": "the course name must have 1-200 characters",
        "language": "unknown language {value!r}; choose one of {choices}",
        "age_band": "unknown age band {value!r}; choose one of {choices}",
        "country": "unknown country {value!r}; choose one of {choices}",
        "taken": "course code {value!r} is taken",
    }

    def __init__(self, problem: str, **params: str) -> None:
        """Keep the problem and its values; the message is the English text."""
        super().__init__(
            self.MESSAGES[problem].format(**params), code=f"course_{problem}", **params
        )
        self.problem = problem


def _checked(
    *, code: str, title: str, language: str, age_band: str, country: str
) -> tuple[str, str]:
    """The cleaned code and title; :class:`CourseError` names the first bad field."""
    code, title = code.strip().upper(), title.strip()
    if not CODE_PATTERN.match(code):
        raise CourseError("code")
    if not title or len(title) > 200:
        raise CourseError("title")
    if language not in LANGUAGES:
        raise CourseError("language", value=language, choices=", ".join(LANGUAGES))
    if age_band not in AGE_BANDS:
        raise CourseError("age_band", value=age_band, choices=", ".join(AGE_BANDS))
    if country.upper() not in COUNTRIES:
        raise CourseError("country", value=country, choices=", ".join(COUNTRIES))
    return code, title


def new_course(
    session: Session,
    *,
    school: School,
    code: str,
    title: str,
    language: str,
    age_band: str,
    country: str,
    teacher: User | None = None,
) -> Course:
    """A new course with its age band and helpline country in its policy; ``teacher`` is enrolled in
    it.
    """
    code, title = _checked(
        code=code, title=title, language=language, age_band=age_band, country=country
    )
    if session.scalar(select(Course.id).where(Course.code == code)) is not None:
        raise CourseError("taken", value=code)
    policy = CoursePolicy.from_dict({"age_band": age_band, "country": country.upper()}).to_dict()
    course = create_course(session, school, code, title, language, policy=policy)
    if teacher is not None:
        enrol(session, teacher, course, "teacher")
    return course


def copy_course(
    session: Session, source: Course, *, code: str, title: str, teacher: User | None = None
) -> Course:
    """A new course with the source's language, policy and daily limit.

    Nothing of the students is copied (no enrolments, no conversations), and neither is the
    material: its passages and vectors belong to the source course, so the teacher uploads the
    files again (the panel says so).
    """
    policy = CoursePolicy.from_dict(source.policy or {})
    course = new_course(
        session,
        school=source.school,
        code=code,
        title=title,
        language=source.language,
        age_band=policy.age_band,
        country=policy.country or source.school.country,
        teacher=teacher,
    )
    course.policy = policy.to_dict()
    course.daily_question_limit = source.daily_question_limit
    return course


def archive_course(course: Course) -> bool:
    """Archive a course (hidden from students, read-only); False if it already was."""
    if course.archived_at is not None:
        return False
    course.archived_at = datetime.now(UTC)
    return True


def restore_course(course: Course) -> bool:
    """Bring an archived course back; False if it was not archived."""
    if course.archived_at is None:
        return False
    course.archived_at = None
    return True

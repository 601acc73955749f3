"""``kateder course ...``: create, copy and archive courses (the
same service as the teacher panel).
"""

from __future__ import annotations

import click
from sqlalchemy import select

from app.cli.common import emit, open_services
from app.services import courses
from core.language import LANGUAGES
from core.models import Course, School, User
from guard.policy import AGE_BANDS


def _course(s, code: str) -> Course:
    course = s.scalar(select(Course).where(Course.code == code))
    if course is None:
        raise click.ClickException(f"no course with code {code!r}")
    return course


def _teacher(s, username: str | None) -> User | None:
    if username is None:
        return None
    user = s.scalar(select(User).where(User.username == username))
    if user is None or user.role not in ("teacher", "admin"):
        raise click.ClickException(f"no teacher {username!r}")
    return user


@click.group("course")
def course_group() -> None:
    """Courses: create, copy, archive and restore."""


@course_group.command("create")
@click.option("--code", required=True)
@click.option("--title", required=True, help="The course's name.")
@click.option("--language", type=click.Choice(LANGUAGES), default="sv", show_default=True)
@click.option("--age-band", type=click.Choice(AGE_BANDS), default="13-15", show_default=True)
@click.option(
    "--country",
    type=click.Choice(courses.COUNTRIES, case_sensitive=False),
    default="SE",
    show_default=True,
)
@click.option(
    "--teacher",
    "teacher_name",
    default=None,
    help="Enrol this teacher (their school owns the course).",
)
@click.option(
    "--school",
    "school_id",
    type=int,
    default=None,
    help="School id (default: the teacher's, else the first).",
)
@click.option("--json", "as_json", is_flag=True)
def create(
    code: str,
    title: str,
    language: str,
    age_band: str,
    country: str,
    teacher_name: str | None,
    school_id: int | None,
    as_json: bool,
) -> None:
    """Create a course."""
    services = open_services()
    with services.db.session() as s:
        teacher = _teacher(s, teacher_name)
        school = (
            s.get(School, school_id or teacher.school_id)
            if (school_id or teacher)
            else s.scalar(select(School).order_by(School.id))
        )
        if school is None:
            raise click.ClickException("no such school")
        c = courses.new_course(
            s,
            school=school,
            code=code,
            title=title,
            language=language,
            age_band=age_band,
            country=country,
            teacher=teacher,
        )
        services.audit.record(
            s,
            "course_created",
            user=teacher,
            course_id=c.id,
            details={"code": c.code, "via": "cli"},
        )
        emit(
            {"code": c.code, "join_code": c.join_code},
            as_json,
            f"course {c.code} created; join code {c.join_code}",
        )


@course_group.command("copy")
@click.argument("source")
@click.option("--code", required=True)
@click.option("--title", required=True)
@click.option("--teacher", "teacher_name", default=None)
@click.option("--json", "as_json", is_flag=True)
def copy(source: str, code: str, title: str, teacher_name: str | None, as_json: bool) -> None:
    """Copy a course's policy and settings (not its students or material)."""
    services = open_services()
    with services.db.session() as s:
        c = courses.copy_course(
            s, _course(s, source), code=code, title=title, teacher=_teacher(s, teacher_name)
        )
        services.audit.record(
            s,
            "course_created",
            course_id=c.id,
            details={"code": c.code, "copied_from": source, "via": "cli"},
        )
        emit(
            {"code": c.code, "join_code": c.join_code},
            as_json,
            f"course {c.code} created; join code {c.join_code}",
        )


@course_group.command("archive")
@click.argument("code")
@click.option("--restore", is_flag=True, help="Bring an archived course back.")
def archive(code: str, restore: bool) -> None:
    """Archive a course (hidden from students, read-only), or restore it."""
    services = open_services()
    with services.db.session() as s:
        c = _course(s, code)
        changed = courses.restore_course(c) if restore else courses.archive_course(c)
        if changed:
            services.audit.record(
                s,
                "course_restored" if restore else "course_archived",
                course_id=c.id,
                details={"via": "cli"},
            )
        click.echo(
            f"course {code} {'restored' if restore else 'archived'}"
            if changed
            else f"course {code} unchanged"
        )

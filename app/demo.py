"""The demo school: courses with project-written material and demo accounts."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.services import accounts
from core.models import Course, School, User

MATERIAL = Path(__file__).resolve().parent / "demo_material"

COURSES = [
    {
        "code": "SCI7",
        "title": "Science 7",
        "language": "en",
        "files": ["photosynthesis.md", "water-cycle.md"],
    },
    {
        "code": "HIST8",
        "title": "Historia 8",
        "language": "sv",
        "files": ["gustav-vasa.md", "vikingatiden.md"],
    },
    {"code": "FYS9", "title": "Fysik 9", "language": "sv", "files": ["atomer.md"]},
]
USERS = [
    {
        "username": "teacher",
        "role": "teacher",
        "display_name": "Demo Teacher",
        "courses": ["SCI7", "HIST8", "FYS9"],
    },
    {
        "username": "student1",
        "role": "student",
        "courses": ["SCI7", "HIST8", "FYS9"],
        "language": "en",
    },
    {"username": "student2", "role": "student", "courses": ["HIST8"], "language": "sv"},
    {"username": "dpo", "role": "dpo", "display_name": "Data Protection Officer", "courses": []},
    {"username": "admin", "role": "admin", "display_name": "School Admin", "courses": []},
]


def create_demo(services, *, progress=None) -> dict[str, Any]:
    """Create (or refresh) the demo school; demo passwords are new on every run."""
    out: dict[str, Any] = {"courses": [], "users": []}
    with services.db.session() as s:
        school = s.scalar(select(School).where(School.name == "Kateder Demo School"))
        if school is None:
            school = accounts.create_school(s, "Kateder Demo School", "SE")
        courses = {}
        for spec in COURSES:
            course = s.scalar(select(Course).where(Course.code == spec["code"]))
            if course is None:
                course = accounts.create_course(
                    s, school, spec["code"], spec["title"], spec["language"]
                )
            courses[spec["code"]] = course
            out["courses"].append(
                {
                    "code": course.code,
                    "title": course.title,
                    "language": course.language,
                    "join_code": course.join_code,
                }
            )
        for spec in USERS:
            password = secrets.token_urlsafe(9)
            user = s.scalar(select(User).where(User.username == spec["username"]))
            if user is None:
                user = accounts.create_user(
                    s,
                    school,
                    spec["username"],
                    password,
                    spec["role"],
                    display_name=spec.get("display_name"),
                    language=spec.get("language", "en"),
                )
            else:
                accounts.set_password(user, password)
            for code in spec["courses"]:
                accounts.enrol(s, user, courses[code])
            out["users"].append(
                {"username": user.username, "password": password, "role": user.role}
            )
        course_ids = {code: c.id for code, c in courses.items()}
        teacher_id = s.scalar(select(User.id).where(User.username == "teacher"))
    for spec in COURSES:
        for name in spec["files"]:
            services.ingest.ingest(
                course_ids[spec["code"]],
                name,
                (MATERIAL / name).read_bytes(),
                uploaded_by=teacher_id,
                progress=progress,
            )
    return out

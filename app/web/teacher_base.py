"""The teacher panel's blueprint and what its view modules share (see app/web/teacher.py)."""

from __future__ import annotations

from flask import Blueprint, abort

from app.web.access import teacher_course
from core.models import Course

bp = Blueprint("teacher", __name__, url_prefix="/teach")
TEACHERS = ("teacher", "admin")


def writable_course(s, code: str) -> Course:
    """A course the teacher teaches that is not archived (archived
    courses are read-only): 409 otherwise.
    """
    c = teacher_course(s, code)
    if c.archived_at is not None:
        abort(409)
    return c

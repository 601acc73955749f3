"""What every ``kateder`` command module shares: the services, output, course lookup, progress."""

from __future__ import annotations

import json
import sys

import click
from sqlalchemy import select

from app import create_app
from app.services import get_services
from core.models import Course


def open_services(migrate: bool = True):
    """The instance's services (``KATEDER_HOME``), with the database migrated unless told not to."""
    app = create_app()
    services = get_services(app)
    if migrate:
        services.db.migrate()
    return services


def emit(data, as_json: bool, human: str | None = None) -> None:
    """Print ``data`` as one JSON line with ``--json``, else the ``human`` line (if any)."""
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=None, default=str))
    elif human is not None:
        click.echo(human)


def course_id_of(services, code: str) -> int:
    """The id of the course with this code; a one-line CLI error if there is none."""
    with services.db.session() as s:
        course_id = s.scalar(select(Course.id).where(Course.code == code))
    if course_id is None:
        raise click.ClickException(f"no course with code {code!r}")
    return course_id


class ProgressBars:
    """``progress(stage, done, total)`` as one bar per stage on stderr
    (stdout stays clean for --json).
    """

    def __init__(self) -> None:
        self.stage, self.bar = None, None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = click.progressbar(length=total, label=stage, file=sys.stderr, show_pos=True)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

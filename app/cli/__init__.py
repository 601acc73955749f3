"""The ``kateder`` command: one console script for every command-line entry point.

``KATEDER_HOME`` selects the instance folder (default ``./instance``). Every command
migrates a new database itself. Failures exit non-zero with one line on stderr.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from sqlalchemy import select

from app import create_app
from app.cli.common import course_id_of, emit, open_services
from app.cli.courses import course_group
from app.cli.eval import answer_group, retrieval_group
from app.cli.gdpr import GROUPS as gdpr_groups
from app.cli.ingest import COMMANDS as ingest_commands
from app.cli.users import user_group
from guard.cli import guard_group


class KatederGroup(click.Group):
    """A group that turns any unexpected failure into one line on stderr and exit 1."""

    def invoke(self, ctx):
        """Run the subcommand; report errors briefly."""
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the CLI's contract is a one-line error
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            click.echo(f"error: {message}".splitlines()[0], err=True)
            sys.exit(1)


@click.group(cls=KatederGroup)
def main() -> None:
    """Kateder: a safety-moderated course assistant for schools."""


@main.command()
def migrate() -> None:
    """Create or upgrade the database schema (Alembic)."""
    services = open_services()
    click.echo(f"database at {services.db.url.split('@')[-1]} is up to date")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the demo logins as JSON.")
def demo(as_json: bool) -> None:
    """Create the demo school, its courses and material, and demo accounts."""
    from app.demo import create_demo

    services = open_services()
    out = create_demo(services)
    if as_json:
        emit(out, True)
        return
    _print_demo(out)


def _print_demo(out: dict) -> None:
    """The demo courses and logins, for people."""
    click.echo(
        "Demo school ready. Courses: "
        + ", ".join(f"{c['code']} ({c['title']})" for c in out["courses"])
    )
    click.echo("Demo logins (new passwords on every run):")
    for u in out["users"]:
        click.echo(f"  {u['role']:8} {u['username']:10} {u['password']}")


def _queue_file(services, course_id: int, path: Path, as_json: bool) -> bool:
    """Queue one file for `kateder worker` (audited); False after printing why it failed."""
    from ingest.errors import IngestError

    try:
        job = services.jobs.enqueue(course_id, path.name, path.read_bytes())
    except IngestError as exc:
        click.echo(f"error: {exc}", err=True)
        return False
    with services.db.session() as s:
        services.audit.record(
            s,
            "upload",
            course_id=course_id,
            details={"job_id": job["id"], "filename": job["filename"], "via": "cli"},
        )
    emit(job, as_json, f"{job['filename']}: queued as job {job['id']}")
    return True


def _ingest_file(services, course_id: int, path: Path, as_json: bool) -> bool:
    """Ingest one file now, with a progress bar (audited); False after printing why it failed."""
    from tqdm import tqdm

    from ingest.errors import IngestError

    with tqdm(
        total=100,
        desc=path.name[:30],
        unit="%",
        file=sys.stderr,
        disable=as_json or not sys.stderr.isatty(),
    ) as bar:

        def progress(stage: str, fraction: float, bar=bar) -> None:
            bar.set_postfix_str(stage)
            bar.n = round(fraction * 100)
            bar.refresh()

        try:
            result = services.ingest.ingest(
                course_id, path.name, path.read_bytes(), progress=progress
            )
        except IngestError as exc:
            click.echo(f"error: {exc}", err=True)
            return False
    with services.db.session() as s:
        services.audit.record(
            s,
            "upload",
            course_id=course_id,
            details={
                "document_id": result.document_id,
                "filename": result.filename,
                "version": result.version,
                "via": "cli",
            },
        )
    emit(
        result.to_dict(),
        as_json,
        f"{result.filename}: {result.status}, version {result.version}, {result.passages} passages"
        + (f", {result.held} held for review" if result.held else "")
        + "".join(f"\n  note: {n}" for n in result.notes),
    )
    return True


@main.command()
@click.option("--course", "course_code", required=True, help="Course code.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file.")
@click.option(
    "--queue",
    "queue_only",
    is_flag=True,
    help="Only queue the files; `kateder worker` ingests them.",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
def ingest(course_code: str, as_json: bool, queue_only: bool, files: tuple[Path, ...]) -> None:
    """Add material files to a course (with a progress bar)."""
    services = open_services()
    course_id = course_id_of(services, course_code)
    add = _queue_file if queue_only else _ingest_file
    failed = 0
    for path in files:
        if not path.is_file():
            click.echo(f"error: {path}: no such file", err=True)
            failed += 1
        elif not add(services, course_id, path, as_json):
            failed += 1
    if failed:
        sys.exit(1)


@main.command()
@click.option("--course", "course_code", required=True, help="Course code.")
@click.option(
    "--user",
    "username",
    default=None,
    help="Ask as this user (default: the course's first teacher).",
)
@click.option(
    "--conversation", "conversation_id", type=int, default=None, help="Continue a conversation."
)
@click.option("--json", "as_json", is_flag=True, help="Print the full result as JSON.")
@click.argument("question")
def ask(
    course_code: str,
    username: str | None,
    conversation_id: int | None,
    as_json: bool,
    question: str,
) -> None:
    """Ask a question in a course."""
    from core.models import Course, Enrolment, User

    services = open_services()
    with services.db.session() as s:
        if username:
            user_id = s.scalar(select(User.id).where(User.username == username))
            if user_id is None:
                raise click.ClickException(f"no user {username!r}")
        else:
            user_id = s.scalar(
                select(User.id)
                .join(Enrolment, Enrolment.user_id == User.id)
                .join(Course, Course.id == Enrolment.course_id)
                .where(Course.code == course_code, User.role == "teacher")
                .order_by(User.id)
            )
            if user_id is None:
                raise click.ClickException(f"no course {course_code!r} with a teacher; pass --user")
    result = services.ask.ask(user_id, course_code, question, conversation_id)
    if as_json:
        emit(result.to_dict(), True)
        return
    click.echo(result.answer)
    for c in result.citations:
        where = (
            f", page {c['page']}"
            if c.get("page")
            else (f", {c['section']}" if c.get("section") else "")
        )
        click.echo(f"  [{c['number']}] {c['document']}{where}")


GUNICORN_CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


def gunicorn_argv(
    host: str, port: int, workers: int | None = None, threads: int | None = None
) -> list[str]:
    """The command line that serves Kateder with gunicorn and ``gunicorn.conf.py``."""
    if not GUNICORN_CONF.is_file():
        raise click.ClickException(
            f"{GUNICORN_CONF} is missing; "
            "serve with gunicorn -c <your gunicorn.conf.py> app.wsgi:app"
        )
    argv = [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF), "--bind", f"{host}:{port}"]
    if workers is not None:
        argv += ["--workers", str(workers)]
    if threads is not None:
        argv += ["--threads", str(threads)]
    return [*argv, "app.wsgi:app"]


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="gunicorn worker processes [default: WEB_CONCURRENCY, else 2].",
)
@click.option(
    "--threads",
    type=click.IntRange(1, 256),
    default=None,
    help="Threads per worker, one per open answer stream [default: KATEDER_THREADS].",
)
@click.option(
    "--dev", is_flag=True, help="Flask's development server (one process) instead of gunicorn."
)
@click.option(
    "--demo",
    "with_demo",
    is_flag=True,
    help="Create or refresh the demo school first and print its logins.",
)
def serve(
    host: str, port: int, workers: int | None, threads: int | None, dev: bool, with_demo: bool
) -> None:
    """Serve the web app: gunicorn as in production, or Flask's development server with --dev."""
    services = open_services()
    if with_demo:
        from app.demo import create_demo

        _print_demo(create_demo(services))
    click.echo(f"Kateder on http://{host}:{port}/", err=True)
    if dev:
        app = create_app(services=services)
        app.run(host=host, port=port, threaded=True, use_reloader=False)
        return
    argv = gunicorn_argv(host, port, workers, threads)
    # nothing open crosses exec; gunicorn's master migrates and forks the workers
    services.db.dispose()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)


def _register_groups() -> None:
    """Each area owns its command group in its own module of this package; they are added here."""
    for command in (
        *gdpr_groups,
        *ingest_commands,
        course_group,
        user_group,
        retrieval_group,
        answer_group,
        guard_group,
    ):
        main.add_command(command)


_register_groups()

"""``kateder worker``, ``kateder jobs`` and ``kateder documents``:
material from the command line.
"""

from __future__ import annotations

import sys
import time

import click
from sqlalchemy import func, select

from app.cli.common import ProgressBars, course_id_of, emit, open_services


@click.command("worker")
@click.option("--once", is_flag=True, help="Run the jobs that are waiting, then exit.")
@click.option(
    "--job", "job_id", type=int, default=None, help="Run only this job (retried if it failed)."
)
@click.option("--poll", default=2.0, show_default=True, help="Seconds between looks at the queue.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per finished job.")
def worker(once: bool, job_id: int | None, poll: float, as_json: bool) -> None:
    """Run queued ingestion jobs in this process (for a separate worker process)."""
    services = open_services()
    runner = services.jobs
    if job_id is not None:
        status = runner.status(job_id)
        if status is None:
            raise click.ClickException(f"no job {job_id}")
        if status["status"] == "failed":
            runner.retry(job_id)
        claimed = runner.claim(job_id)
        if claimed is None:
            raise click.ClickException(f"job {job_id} is {status['status']} and cannot be run now")
        _report(runner.run_job(claimed), as_json)
        return
    while True:
        for result in runner.run_pending():
            _report(result, as_json)
        if once:
            return
        runner.wake.wait(poll)
        runner.wake.clear()
        time.sleep(0)


def _report(job: dict, as_json: bool) -> None:
    line = f"job {job['id']} {job['filename']}: {job['status']}"
    if job.get("error"):
        line += f" ({job['error']})"
    elif job.get("result"):
        r = job["result"]
        line += (
            f", document {r['document_id']} {r['status']}, version {r['version']}, "
            f"{r['passages']} passages" + (f", {r['held']} held" if r.get("held") else "")
        )
    emit(job, as_json, line)


@click.group("jobs")
def jobs_group() -> None:
    """Background ingestion jobs."""


@jobs_group.command("list")
@click.option(
    "--status", default=None, help="Only jobs with this status (queued, running, done, failed)."
)
@click.option("--json", "as_json", is_flag=True)
def jobs_list(status: str | None, as_json: bool) -> None:
    """The 50 most recent jobs."""
    from core.models import Job
    from ingest.jobs import job_dict

    services = open_services()
    with services.db.session() as s:
        query = select(Job).order_by(Job.id.desc()).limit(50)
        if status:
            query = query.where(Job.status == status)
        rows = [job_dict(j) for j in s.scalars(query)]
    if as_json:
        emit(rows, True)
        return
    for j in rows:
        click.echo(
            f"{j['id']:>5} {j['status']:8} {j['stage']:8} {j['progress']:5.1f}% "
            f"{j['filename'] or ''}" + (f"  {j['error']}" if j["error"] else "")
        )


@jobs_group.command("retry")
@click.argument("job_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def jobs_retry(job_id: int, as_json: bool) -> None:
    """Queue a failed or interrupted job again (a worker or the web process runs it)."""
    services = open_services()
    job = services.jobs.retry(job_id)
    emit(job, as_json, f"job {job_id} is {job['status']}")


@click.group("documents")
def documents_group() -> None:
    """Course material."""


@documents_group.command("list")
@click.option("--course", "course_code", required=True, help="Course code.")
@click.option("--json", "as_json", is_flag=True)
def documents_list(course_code: str, as_json: bool) -> None:
    """Documents of a course with status and passage counts."""
    from core.models import Document, Passage

    services = open_services()
    course_id = course_id_of(services, course_code)
    with services.db.session() as s:
        docs = s.scalars(
            select(Document).where(Document.course_id == course_id).order_by(Document.id)
        ).all()
        counts = dict(
            ((d, st), n)
            for d, st, n in s.execute(
                select(Passage.document_id, Passage.status, func.count())
                .join(Document, Document.id == Passage.document_id)
                .where(Passage.course_id == course_id, Passage.version == Document.version)
                .group_by(Passage.document_id, Passage.status)
            )
        )
    rows = [
        {
            "id": d.id,
            "title": d.title,
            "filename": d.filename,
            "version": d.version,
            "status": d.status,
            "passages": counts.get((d.id, "indexed"), 0),
            "held": counts.get((d.id, "held"), 0),
        }
        for d in docs
    ]
    if as_json:
        emit(rows, True)
        return
    for r in rows:
        click.echo(
            f"{r['id']:>5} v{r['version']} {r['status']:8} {r['passages']:>5} passages "
            f"{r['held']:>3} held  {r['filename']}"
        )


@documents_group.command("delete")
@click.argument("document_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def documents_delete(document_id: int, as_json: bool) -> None:
    """Delete a document: its original file, its passages and its vectors."""
    from ingest.errors import IngestError

    services = open_services()
    try:
        info = services.ingest.delete_document(document_id)
    except IngestError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    with services.db.session() as s:
        services.audit.record(
            s, "delete_document", course_id=info["course_id"], details={**info, "via": "cli"}
        )
    emit(info, as_json, f"deleted document {document_id} ({info['filename']})")


@click.command("reindex")
@click.option("--course", "course_codes", multiple=True, help="Course code (repeatable).")
@click.option("--all", "all_courses", is_flag=True, help="Every course of the instance.")
@click.option(
    "--to-server",
    "to_server",
    default=None,
    metavar="NAME",
    help=(
        "Move the courses' vectors to this server of CHROMA_SERVERS instead "
        "(copied from the old server)."
    ),
)
@click.option(
    "--reembed",
    is_flag=True,
    help="With --to-server: re-embed from the database instead of copying "
    "(the old server is lost, or EMBEDDER changed).",
)
@click.option(
    "--drain-seconds",
    default=5.0,
    show_default=True,
    type=click.FloatRange(0, 300),
    help=(
        "With --to-server: how long to wait after each change of route "
        "for calls under way to finish."
    ),
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per course.")
def reindex(
    course_codes: tuple[str, ...],
    all_courses: bool,
    to_server: str | None,
    reembed: bool,
    drain_seconds: float,
    as_json: bool,
) -> None:
    """Re-embed course material with the configured embedder (after changing EMBEDDER).

    Reads the passages from the database, so nothing is uploaded again; students keep
    searching the old vectors until the new ones are complete. With --to-server the
    courses move to another Chroma server (docs/operations.md, "Several Chroma servers"):
    they answer from the old server until the new one holds everything.
    """
    if bool(course_codes) == all_courses:
        raise click.UsageError("name the courses with --course CODE, or use --all")
    if reembed and not to_server:
        raise click.UsageError("--reembed goes with --to-server (a plain reindex always re-embeds)")
    services = open_services()
    courses = _courses(services, course_codes, all_courses)
    if to_server:
        _move(
            services,
            courses,
            to_server,
            reembed=reembed,
            drain_seconds=drain_seconds,
            as_json=as_json,
        )
        return
    _reembed(services, courses, as_json=as_json)


def _courses(services, course_codes: tuple[str, ...], all_courses: bool) -> list[tuple[str, int]]:
    """(code, id) of the named courses, or of every course of the instance with ``--all``."""
    from core.models import Course

    if all_courses:
        with services.db.session() as s:
            return [(c.code, c.id) for c in s.scalars(select(Course).order_by(Course.id))]
    return [(code, course_id_of(services, code)) for code in course_codes]


def _reembed(services, courses: list[tuple[str, int]], *, as_json: bool) -> None:
    """A plain ``kateder reindex``: each course re-embedded from the database (audited)."""
    from ingest.reindex import reindex_course

    embedder = services.embedder
    for code, course_id in courses:
        with ProgressBars() as bars:
            label = f"{code}: embedding with {embedder.name}"
            progress = (
                None if as_json else lambda done, total, label=label: bars(label, done, total)
            )
            written = reindex_course(
                services.db, embedder, services.vector_store, course_id, progress=progress
            )
        with services.db.session() as s:
            services.audit.record(
                s,
                "reindex",
                course_id=course_id,
                details={"passages": written, "embedder": embedder.name, "via": "cli"},
            )
        emit(
            {"course": code, "passages": written, "embedder": embedder.name},
            as_json,
            f"{code}: {written} passages re-indexed with {embedder.name}",
        )


def _move(
    services,
    courses: list[tuple[str, int]],
    target: str,
    *,
    reembed: bool,
    drain_seconds: float,
    as_json: bool,
) -> None:
    """``kateder reindex --to-server``: each course's vectors to ``target``, one course after
    the other."""
    from ingest.reindex import MaterialChanged, move_to_server
    from ingest.routing import RouteChanged, RoutingStore

    store = services.vector_store
    if not isinstance(store, RoutingStore):
        raise click.UsageError(
            "--to-server needs several Chroma servers: set CHROMA_SERVERS (docs/operations.md)"
        )
    if target not in store.stores:
        raise click.UsageError(
            f"no Chroma server {target!r}; CHROMA_SERVERS names {', '.join(store.stores)}"
        )
    embedder = services.embedder if reembed else None
    left_behind = False
    for code, course_id in courses:
        with ProgressBars() as bars:
            label = (
                f"{code}: embedding with {embedder.name} on {target}"
                if embedder
                else f"{code}: copying to {target}"
            )
            progress = (
                None if as_json else lambda done, total, label=label: bars(label, done, total)
            )
            try:
                moved = move_to_server(
                    services.db,
                    store,
                    course_id,
                    target,
                    embedder=embedder,
                    drain_seconds=drain_seconds,
                    progress=progress,
                )
            except (MaterialChanged, RouteChanged) as exc:
                raise click.ClickException(
                    f"{code}: not moved, it still answers from its old server: {exc}"
                ) from exc
            except Exception as exc:
                hint = "" if reembed else " (if the old server is lost, use --reembed)"
                raise click.ClickException(
                    f"{code}: not moved, it still answers from its old server: "
                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}{hint}"
                ) from exc
        if not moved.already:
            with services.db.session() as s:
                services.audit.record(
                    s,
                    "vectors_moved",
                    course_id=course_id,
                    details={
                        **moved.to_dict(),
                        "embedder": embedder.name if embedder else None,
                        "via": "cli",
                    },
                )
        if moved.already:
            line = f"{code}: already on {target}"
        else:
            line = f"{code}: moved from {moved.source} to {target}, {moved.copied} passages" + (
                f" ({moved.repaired} repaired)" if moved.repaired else ""
            )
        if moved.left_on:
            left_behind = True
            left_on = ", ".join(moved.left_on)
            line += f"; an old copy is left on {left_on} (unreachable): run this again to delete it"
        emit({"course": code, **moved.to_dict()}, as_json, line)
    if left_behind:
        sys.exit(1)


COMMANDS = (worker, jobs_group, documents_group, reindex)

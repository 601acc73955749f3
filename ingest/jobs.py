"""Background ingestion jobs in the ``jobs`` table: queue, atomic claim, progress, retry.

A job is claimed with one conditional UPDATE (``WHERE status='queued'``, or ``running``
with a lease older than ``JOB_LEASE_SECONDS``), so two runners never take the same job
and a runner that was killed leaves a job that the next runner takes over. Progress
writes renew the lease. The web process runs a :class:`JobThread`; ``kateder worker``
runs the same :class:`JobRunner` in its own process.

Besides ingestion, the runner runs other long jobs handed to it as ``tasks`` (a kind ->
:data:`Task` map), such as the vector compaction after an erasure (app/services/gdpr.py),
so no such work runs inside a web request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select, update

from core.models import Job, utcnow
from ingest.errors import IngestError
from ingest.pipeline import IngestPipeline, Upload
from ingest.store import MaterialChanged

log = logging.getLogger(__name__)
KIND = "ingest"
# a non-ingestion job: (course_id, payload, progress(stage, fraction)) -> result; MaterialChanged =
# try again later
Task = Callable[[int | None, dict[str, Any], Callable[[str, float], None]], dict[str, Any]]


class JobCancelled(IngestError):
    """The teacher cancelled the job while it ran."""


def _owner(job: Job) -> Any:
    """Who a job is for: its uploader, else its course."""
    payload = job.payload or {}
    return payload.get("uploaded_by") or ("course", job.course_id)


def fair_order(queued: list[Job], busy: set) -> list[Job]:
    """Queued jobs in a fair order: round robin over uploaders, and uploaders with a running job
    last.

    One teacher's many (or large) uploads then cannot keep everyone else's waiting.
    """
    seen: dict[Any, int] = {}
    ranked = []
    for job in queued:  # oldest first
        owner = _owner(job)
        ranked.append((owner in busy, seen.get(owner, 0), job.id, job))
        seen[owner] = seen.get(owner, 0) + 1
    return [job for *_key, job in sorted(ranked, key=lambda r: r[:3])]


def job_dict(job: Job) -> dict[str, Any]:
    """The JSON status of a job for the teacher panel and ``kateder jobs``."""
    payload = dict(job.payload or {})
    return {
        "id": job.id,
        "kind": job.kind,
        "course_id": job.course_id,
        "document_id": job.document_id,
        "filename": payload.get("filename"),
        "status": job.status,
        "stage": job.stage,
        "progress": round(float(job.progress or 0.0) * 100, 1),
        "attempts": int(payload.get("attempts", 0)),
        "error": job.error,
        "error_code": (payload.get("error") or {}).get("code"),
        "result": payload.get("result"),
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "updated_at": job.updated_at.isoformat() if job.updated_at else None,
    }


class JobRunner:
    """Enqueues uploads and runs queued ingestion jobs through the pipeline."""

    def __init__(
        self,
        db,
        pipeline: IngestPipeline,
        config: Mapping[str, Any],
        *,
        tasks: Mapping[str, Task] | None = None,
    ) -> None:
        """Use ``db`` for the job rows, ``pipeline`` for ingestion and ``tasks`` for other kinds of
        job."""
        self.db, self.pipeline = db, pipeline
        self.tasks = dict(tasks or {})
        self.kinds = (KIND, *self.tasks)
        self.lease = float(config.get("JOB_LEASE_SECONDS", 120))
        self.max_attempts = int(config.get("JOB_MAX_ATTEMPTS", 3))
        self.wake = threading.Event()

    def enqueue(
        self,
        course_id: int,
        filename: str,
        data: bytes,
        *,
        uploaded_by: int | None = None,
        title: str | None = None,
    ) -> dict[str, Any]:
        """Validate and store the upload, then queue it; return the job's status."""
        upload = self.pipeline.prepare(filename, data)
        self.pipeline.store_original(data)
        with self.db.session() as s:
            job = Job(
                kind=KIND,
                course_id=course_id,
                status="queued",
                stage="queued",
                progress=0.0,
                payload={
                    "filename": upload.filename,
                    "format": upload.fmt,
                    "digest": upload.digest,
                    "size": upload.size,
                    "uploaded_by": uploaded_by,
                    "title": title,
                    "attempts": 0,
                },
            )
            s.add(job)
            s.flush()
            out = job_dict(job)
        self.wake.set()
        return out

    def enqueue_task(
        self, kind: str, course_id: int | None, payload: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Queue a job of one of the runner's ``tasks``; return its status."""
        if kind not in self.tasks:
            raise ValueError(f"no task {kind!r}; known: {', '.join(sorted(self.tasks)) or 'none'}")
        with self.db.session() as s:
            job = Job(
                kind=kind,
                course_id=course_id,
                status="queued",
                stage="queued",
                progress=0.0,
                payload={**(payload or {}), "attempts": 0},
            )
            s.add(job)
            s.flush()
            out = job_dict(job)
        self.wake.set()
        return out

    def status(self, job_id: int) -> dict[str, Any] | None:
        """The job's JSON status, or None."""
        with self.db.session() as s:
            job = s.get(Job, job_id)
            return job_dict(job) if job is not None else None

    def claim(self, job_id: int | None = None) -> int | None:
        """Atomically take one runnable job (a given one, or the oldest); return its id."""
        stale = utcnow() - timedelta(seconds=self.lease)
        runnable = or_(Job.status == "queued", (Job.status == "running") & (Job.updated_at < stale))
        with self.db.session() as s:
            query = select(Job).where(Job.kind.in_(self.kinds), runnable).order_by(Job.id).limit(50)
            if job_id is not None:
                query = query.where(Job.id == job_id)
            queued = list(s.scalars(query))
            busy = {
                _owner(j)
                for j in s.scalars(
                    select(Job).where(
                        Job.kind.in_(self.kinds), Job.status == "running", Job.updated_at >= stale
                    )
                )
            }
            candidates = [job.id for job in fair_order(queued, busy)[:5]]
        for candidate in candidates:
            with self.db.session() as s:
                taken = s.execute(
                    update(Job)
                    .where(Job.id == candidate, runnable)
                    .values(status="running", stage="starting", updated_at=utcnow())
                    .execution_options(synchronize_session=False)
                ).rowcount
            if taken == 1:
                return candidate
        return None

    def cancel(self, job_id: int) -> dict[str, Any] | None:
        """Cancel a job: a queued one at once, a running one at its next progress step (its partial
        version is removed, the visible one stays). None if there is no such job."""
        stale = utcnow() - timedelta(seconds=self.lease)
        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                return None
            updated = job.updated_at
            if updated is not None and updated.tzinfo is None:  # SQLite returns naive UTC
                updated = updated.replace(tzinfo=stale.tzinfo)
            if job.status == "queued" or (
                job.status in ("running", "cancelling") and updated is not None and updated < stale
            ):
                job.status, job.stage = "cancelled", "cancelled"
                job.updated_at = utcnow()
            elif job.status == "running":
                job.status = "cancelling"  # the runner's next progress write sees it and stops
            s.flush()
            return job_dict(job)

    def run_job(self, job_id: int) -> dict[str, Any]:
        """Run a claimed job to the end; the job row ends as done or failed."""
        with self.db.session() as s:
            job = s.get(Job, job_id)
            payload = dict(job.payload or {})
            payload["attempts"] = int(payload.get("attempts", 0)) + 1
            job.payload = payload
            course_id, kind = job.course_id, job.kind
        if payload["attempts"] > self.max_attempts:
            return self._finish(
                job_id, "failed", error=IngestError("interrupted", attempts=payload["attempts"] - 1)
            )
        last = [0.0, ""]

        def progress(stage: str, fraction: float) -> None:
            now = time.monotonic()
            if stage == last[1] and now - last[0] < 0.5 and fraction < 1.0:
                with (
                    self.db.session() as s
                ):  # no progress write this time, but a cancel is seen at once
                    if s.scalar(select(Job.status).where(Job.id == job_id)) in (
                        "cancelling",
                        "cancelled",
                    ):
                        raise JobCancelled("cancelled")
                return
            last[0], last[1] = now, stage
            with self.db.session() as s:
                written = s.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == "running")
                    .values(stage=stage, progress=fraction, updated_at=utcnow())
                    .execution_options(synchronize_session=False)
                ).rowcount
                if not written and s.scalar(select(Job.status).where(Job.id == job_id)) in (
                    "cancelling",
                    "cancelled",
                ):
                    raise JobCancelled("cancelled")

        if kind != KIND:
            return self._run_task(job_id, kind, course_id, payload, progress)
        upload = Upload(
            payload["filename"], payload["format"], payload["digest"], int(payload["size"])
        )
        try:
            result = self.pipeline.run(
                course_id,
                upload,
                uploaded_by=payload.get("uploaded_by"),
                title=payload.get("title"),
                progress=progress,
            )
        except (
            JobCancelled
        ) as exc:  # the pipeline removed the half-indexed version; the original stays if used
            self.pipeline.drop_file_if_unused(upload.digest, ignore_job=job_id)
            return self._finish(job_id, "cancelled", error=exc)
        except IngestError as exc:  # the file itself is the problem: retrying will not help
            self.pipeline.drop_file_if_unused(upload.digest, ignore_job=job_id)
            return self._finish(job_id, "failed", error=exc)
        except Exception as exc:  # noqa: BLE001 - the job records the failure; the runner goes on
            log.exception("ingestion job %s failed", job_id)
            return self._finish(job_id, "failed", error=IngestError(f"{type(exc).__name__}: {exc}"))
        return self._finish(job_id, "done", result=result.to_dict())

    def _run_task(
        self, job_id: int, kind: str, course_id: int | None, payload: dict[str, Any], progress
    ) -> dict[str, Any]:
        """Run a non-ingestion job; one that finds the material changing under it is queued
        again."""
        try:
            result = self.tasks[kind](course_id, payload, progress)
        except MaterialChanged as exc:
            if int(payload.get("attempts", 0)) < self.max_attempts:
                with self.db.session() as s:
                    s.execute(
                        update(Job)
                        .where(Job.id == job_id)
                        .values(status="queued", stage="waiting", updated_at=utcnow())
                    )
                return self.status(job_id)
            return self._finish(job_id, "failed", error=IngestError(str(exc)))
        except JobCancelled as exc:
            return self._finish(job_id, "cancelled", error=exc)
        except Exception as exc:  # noqa: BLE001 - the job records the failure; the runner goes on
            log.exception("%s job %s failed", kind, job_id)
            return self._finish(job_id, "failed", error=IngestError(f"{type(exc).__name__}: {exc}"))
        return self._finish(job_id, "done", result=result)

    def _finish(
        self,
        job_id: int,
        status: str,
        *,
        result: dict | None = None,
        error: IngestError | None = None,
    ) -> dict[str, Any]:
        with self.db.session() as s:
            job = s.get(Job, job_id)
            payload = dict(job.payload or {})
            if result is not None:
                payload["result"] = result
                if "document_id" in result:
                    job.document_id = result["document_id"]
            if error is not None:
                payload["error"] = error.to_dict()
                job.error = error.message("en")
            job.payload = payload
            job.status, job.stage = status, status
            job.progress = 1.0 if status == "done" else job.progress
            job.updated_at = utcnow()
            s.flush()
            return job_dict(job)

    def retry(self, job_id: int) -> dict[str, Any]:
        """Queue a failed or stuck job again (its attempt count is reset)."""
        with self.db.session() as s:
            job = s.get(Job, job_id)
            if job is None:
                raise IngestError(f"job {job_id} does not exist")
            if job.status == "done":
                return job_dict(job)
            payload = dict(job.payload or {})
            payload["attempts"] = 0
            payload.pop("error", None)
            job.payload, job.status, job.stage, job.progress, job.error = (
                payload,
                "queued",
                "queued",
                0.0,
                None,
            )
            s.flush()
            out = job_dict(job)
        self.wake.set()
        return out

    def run_pending(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Run runnable jobs until none is left (or ``limit`` ran); return their final states."""
        done = []
        while limit is None or len(done) < limit:
            job_id = self.claim()
            if job_id is None:
                break
            done.append(self.run_job(job_id))
        return done


class JobThread:
    """Runs a :class:`JobRunner` in a daemon thread of the web process."""

    def __init__(self, runner: JobRunner, poll_seconds: float = 5.0) -> None:
        """Poll every ``poll_seconds`` or when woken by an enqueue."""
        self.runner, self.poll = runner, poll_seconds
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start once (idempotent)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._loop, name="kateder-jobs", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop after its current job."""
        self._stop.set()
        self.runner.wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.runner.run_pending()
            except Exception:  # noqa: BLE001 - keep the thread alive; the job row says what failed
                log.exception("job runner failed")
            self.runner.wake.wait(self.poll)
            self.runner.wake.clear()

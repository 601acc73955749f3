"""Background ingestion jobs: atomic claim, progress, failure, a killed worker, retry."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app import create_app
from app.services import accounts, get_services
from core.models import Document, Job, Passage
from ingest.jobs import JobThread
from tests import ingest_samples as S

ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path, url: str, **extra) -> dict:
    return {
        "HOME": str(tmp_path / "instance"),
        "DATABASE_URL": url,
        "SECRET_KEY": "t",
        "TESTING": True,
        "JOBS_IN_PROCESS": False,
        **extra,
    }


def _course(services, code: str = "GEO1") -> int:
    with services.db.session() as s:
        school = accounts.create_school(s, f"School {code}")
        return accounts.create_course(s, school, code, "Geography", "en").id


def test_job_runs_with_progress_and_result(services):
    course = _course(services)
    job = services.jobs.enqueue(
        course, "rivers.md", f"# Rivers\n\n{S.filler('rivers', 40)}".encode()
    )
    assert (job["status"], job["stage"], job["progress"]) == ("queued", "queued", 0.0)
    stages = []
    pipeline_run = services.ingest.run

    def spy(*args, progress=None, **kwargs):
        def tap(stage, fraction):
            stages.append((stage, fraction))
            progress(stage, fraction)

        return pipeline_run(*args, progress=tap, **kwargs)

    services.ingest.run = spy
    [done] = services.jobs.run_pending()
    assert done["status"] == "done" and done["progress"] == 100.0 and done["stage"] == "done"
    assert (
        done["result"]["status"] == "ready" and done["document_id"] == done["result"]["document_id"]
    )
    assert [s for s, _ in stages][0] == "load" and stages[-1] == ("done", 1.0)
    assert [f for _, f in stages] == sorted(f for _, f in stages)
    assert services.jobs.run_pending() == []


def test_a_bad_file_found_in_the_job_fails_it_with_a_coded_error_and_drops_the_upload(services):
    course = _course(services)
    job = services.jobs.enqueue(course, "scan.pdf", S.pdf(["x"], scanned=True))
    with services.db.session() as s:
        digest = s.get(Job, job["id"]).payload["digest"]
    assert services.files.path_for(digest).exists()
    [failed] = services.jobs.run_pending()
    assert (failed["status"], failed["error_code"]) == ("failed", "no_text_layer")
    assert "OCR" in failed["error"]
    assert not services.files.path_for(digest).exists()
    with services.db.session() as s:
        assert s.scalars(select(Document)).all() == []


@pytest.mark.parametrize(
    "database_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_claim_is_atomic_between_runners(tmp_path, database_url, fakes):
    services = get_services(create_app(_config(tmp_path, database_url), services=fakes))
    course = _course(services)
    ids = [
        services.jobs.enqueue(course, f"n{i}.md", f"# N{i}\n\nnote {i}".encode())["id"]
        for i in range(3)
    ]
    barrier = threading.Barrier(6)
    claimed: list[int | None] = []

    def grab():
        barrier.wait()
        claimed.append(services.jobs.claim(ids[0]))

    threads = [threading.Thread(target=grab) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(c for c in claimed if c is not None) == [ids[0]]
    # a running job with a fresh lease is not taken again; the others still are, in order
    assert services.jobs.claim(ids[0]) is None
    assert [services.jobs.claim(), services.jobs.claim(), services.jobs.claim()] == [
        ids[1],
        ids[2],
        None,
    ]
    services.db.dispose()


def test_job_thread_in_the_web_process_runs_uploads(services):
    course = _course(services)
    thread = JobThread(services.jobs, poll_seconds=0.2)
    thread.start()
    try:
        job = services.jobs.enqueue(
            course, "lakes.md", b"# Lakes\n\nLake Vanern is the largest lake in Sweden."
        )
        deadline = time.monotonic() + 30
        while (
            services.jobs.status(job["id"])["status"] not in ("done", "failed")
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
    finally:
        thread.stop()
    assert services.jobs.status(job["id"])["status"] == "done"
    assert services.retriever.retrieve(course, "largest lake Sweden Vanern")[0].relevant


WORKER = r"""
import json, sys, time
from app import create_app
from app.services import get_services
from tests.fakes import EchoGenerator, HashingEmbedder, KeywordGuard

class SlowEmbedder(HashingEmbedder):
    def embed_documents(self, texts):
        time.sleep(0.3)
        return super().embed_documents(texts)

config = json.loads(sys.argv[1])
services = get_services(
    create_app(
        config,
        services={
            "guard": KeywordGuard(),
            "embedder": SlowEmbedder(),
            "generator": EchoGenerator(),
        },
    )
)
services.ingest.ingest(
    int(sys.argv[2]),
    "keep.md",
    b"# Keep\n\nPhotosynthesis happens in the chloroplasts of green leaves.",
)
services.jobs.run_pending()
"""


def test_worker_killed_mid_job_leaves_nothing_visible_and_the_job_can_be_retried(
    tmp_path, sqlite_url, fakes
):
    config = _config(tmp_path, sqlite_url, EMBED_BATCH=2)
    doc = "\n\n".join(f"## Part {i}\n\n" + S.filler("volcanoes", 10, seed=i) for i in range(30))
    # this process queues the job without opening Chroma; the worker process owns Chroma until it is
    # killed
    queued = get_services(create_app(config, services=fakes))
    course = _course(queued, "KILL")
    job_id = queued.jobs.enqueue(course, "long.md", f"# Volcanoes\n\n{doc}".encode())["id"]
    queued.db.dispose()
    ids = {"course": course, "job": job_id}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}

    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, json.dumps(config), str(course)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    from app.db import Database

    db = Database(sqlite_url)
    try:
        deadline = time.monotonic() + 90
        progress = 0.0
        while time.monotonic() < deadline:
            with db.session() as s:
                job = s.get(Job, ids["job"])
                stage, progress = job.stage, job.progress
            if stage == "embed" and progress > 0.2:
                break
            assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
        db.dispose()
    assert 0.2 < progress < 0.95, "the worker was not killed half-way"

    # a new process opens the same instance: the half-indexed document is invisible
    services = get_services(create_app({**config, "JOB_LEASE_SECONDS": 3600}, services=fakes))
    course = ids["course"]
    with services.db.session() as s:
        job = s.get(Job, ids["job"])
        assert job.status == "running"  # killed: nobody finished it
        long_doc = s.scalar(select(Document).where(Document.filename == "long.md"))
        assert long_doc.version == 0 and long_doc.status == "indexing"
        assert s.scalars(select(Passage).where(Passage.document_id == long_doc.id)).all() == []
    assert services.vector_store.search_text(
        course, "volcanoes"
    )  # stray vectors of the killed attempt exist...
    hits = services.retriever.retrieve(course, "volcanoes energy balance")
    assert all(h.document_id != long_doc.id for h in hits)  # ...but students never see them
    assert services.retriever.retrieve(course, "photosynthesis chloroplasts")[0].relevant
    assert services.jobs.claim() is None  # its lease has not run out: no double processing

    retried = services.jobs.retry(ids["job"])
    assert retried["status"] == "queued"
    [done] = services.jobs.run_pending()
    assert done["status"] == "done" and done["attempts"] == 1
    with services.db.session() as s:
        rows = s.scalars(select(Passage).where(Passage.document_id == long_doc.id)).all()
        doc = s.get(Document, long_doc.id)
        assert doc.version == 1 and doc.status == "ready"
    vectors = sorted(services.vector_store.ids(course, where={"document_id": long_doc.id}))
    assert vectors == sorted(p.id for p in rows)
    assert len(services.vector_store.search_text(course, "volcanoes")) == len(rows)
    assert (
        services.retriever.retrieve(course, "volcanoes energy balance")[0].document_id
        == long_doc.id
    )
    services.db.dispose()


def test_a_stale_running_job_is_taken_over_after_its_lease(tmp_path, sqlite_url, fakes):
    services = get_services(
        create_app(_config(tmp_path, sqlite_url, JOB_LEASE_SECONDS=0), services=fakes)
    )
    course = _course(services)
    job = services.jobs.enqueue(course, "a.md", b"# A\n\nAmazon river basin rainforest.")
    assert services.jobs.claim() == job["id"]  # a runner takes it, then dies without a word
    time.sleep(0.01)
    [done] = services.jobs.run_pending()
    assert done["id"] == job["id"] and done["status"] == "done"
    services.db.dispose()

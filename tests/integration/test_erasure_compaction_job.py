"""Erasure from the DPO panel queues the vector compaction as a background job, with its status
shown.

Rebuilding a large course's collection takes minutes, so it must not run inside the web
request; the worker (or the web process's job thread) runs it, and the DPO sees its status.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from app import create_app
from app.demo import create_demo
from app.services import get_services
from app.services.gdpr import COMPACT_KIND
from core.models import Course, Job, User

MARKER = "platypusjournal"


@pytest.fixture
def world(app_config, fakes):
    """An app whose jobs wait for a runner (as with ``kateder worker``), with a student's upload."""
    app = create_app({**app_config, "JOBS_IN_PROCESS": False}, services=fakes)
    services = get_services(app)
    demo = create_demo(services)
    with services.db.session() as s:
        student = s.scalar(select(User).where(User.username == "student1"))
        course = s.scalar(select(Course).where(Course.code == "SCI7"))
        ids = {"student": student.id, "course": course.id}
    services.ingest.ingest(
        ids["course"],
        "my-notes.md",
        f"# Notes\n\nMy {MARKER} about plants.\n".encode(),
        uploaded_by=ids["student"],
    )
    yield {
        "app": app,
        "services": services,
        "ids": ids,
        "passwords": {u["username"]: u["password"] for u in demo["users"]},
    }
    services.db.dispose()


def _chroma_file_hits(services, needle: str) -> list[str]:
    root = Path(services.config["HOME"])
    return [
        str(p)
        for d, _s, files in os.walk(root)
        for p in (Path(d) / f for f in files)
        if "chroma" in str(p) and needle.encode() in p.read_bytes()
    ]


def _dpo(app, passwords):
    client = app.test_client()
    page = client.get("/login", headers={"Accept": "text/html"})
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    assert (
        client.post(
            "/login", data={"username": "dpo", "password": passwords["dpo"], "csrf_token": token}
        ).status_code
        == 302
    )
    return client


def test_dpo_erasure_queues_the_compaction_and_shows_its_status(world):
    app, services, ids = world["app"], world["services"], world["ids"]
    assert _chroma_file_hits(
        services, MARKER
    )  # the upload's text is in Chroma's files before erasure
    dpo = _dpo(app, world["passwords"])
    page = dpo.get("/dpo/", headers={"Accept": "text/html"})
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    r = dpo.post(
        "/dpo/subject/erase", data={"username": "student1", "confirm": "yes", "csrf_token": token}
    )
    assert r.status_code == 302
    with services.db.session() as s:
        jobs = s.scalars(select(Job).where(Job.kind == COMPACT_KIND)).all()
        assert [(j.course_id, j.status) for j in jobs] == [
            (ids["course"], "queued")
        ]  # not run in the request
    page = dpo.get("/dpo/", headers={"Accept": "text/html"}).text
    assert 'data-job-status="queued"' in page and "cleaned up in the background" in page
    assert (
        services.vector_store.count(ids["course"]) > 0
    )  # students keep searching the course meanwhile

    finished = services.jobs.run_pending()  # what `kateder worker` does
    assert [j["status"] for j in finished] == ["done"] and finished[0]["result"][
        "compacted"
    ] is True
    assert 'data-job-status="done"' in dpo.get("/dpo/", headers={"Accept": "text/html"}).text
    assert _chroma_file_hits(services, MARKER) == []  # the compaction did its work
    assert services.retriever.retrieve(
        ids["course"], "photosynthesis"
    )  # the course material is intact


def test_compaction_jobs_are_not_the_teachers_to_see_or_cancel(world):
    services, ids = world["services"], world["ids"]
    job = services.jobs.enqueue_task(COMPACT_KIND, ids["course"], {"reason": "erasure"})
    client = world["app"].test_client()
    r = client.post(
        "/api/v1/tokens", json={"username": "teacher", "password": world["passwords"]["teacher"]}
    )
    headers = {"Authorization": f"Bearer {r.get_json()['token']}"}
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=headers).status_code == 404
    assert client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=headers).status_code == 404
    listed = client.get("/api/v1/courses/SCI7/jobs", headers=headers).get_json()["jobs"]
    assert job["id"] not in [j["id"] for j in listed]
    assert services.jobs.status(job["id"])["status"] == "queued"


def test_a_compaction_that_meets_an_upload_is_queued_again(world, monkeypatch):
    from ingest.store import MaterialChanged

    services, ids = world["services"], world["ids"]
    calls = []

    def changed_once(course_id, payload, progress):
        calls.append(course_id)
        if len(calls) == 1:
            raise MaterialChanged("an upload meanwhile")
        return {"compacted": True}

    monkeypatch.setitem(services.jobs.tasks, COMPACT_KIND, changed_once)
    job = services.jobs.enqueue_task(COMPACT_KIND, ids["course"])
    services.jobs.run_pending()
    assert (
        calls == [ids["course"], ids["course"]]
        and services.jobs.status(job["id"])["status"] == "done"
    )

"""Ingestion jobs: the teacher cancels one (queued or running), and uploads are taken fairly."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app import create_app
from app.services import accounts, get_services
from core.models import Document, Job, Passage
from ingest.jobs import fair_order
from tests import ingest_samples as S
from tests.fakes import HashingEmbedder


class CancellingEmbedder(HashingEmbedder):
    """Embeds like the fake, and has the teacher press Cancel while the second batch is embedded."""

    def __init__(self) -> None:
        self.runner, self.job_id, self.calls = None, None, 0

    def embed_documents(self, texts):
        """Cancel the job on the second call (half-way), then go on as a model would."""
        self.calls += 1
        if self.calls == 2 and self.runner is not None:
            self.runner.cancel(self.job_id)
        return super().embed_documents(texts)


@pytest.fixture
def setup(app_config, fakes):
    embedder = CancellingEmbedder()
    app = create_app(
        {**app_config, "JOBS_IN_PROCESS": False, "EMBED_BATCH": 8, "CHUNK_TOKENS": 40},
        services={**fakes, "embedder": embedder},
    )
    services = get_services(app)
    with services.db.session() as s:
        school = accounts.create_school(s, "Cancel School")
        course = accounts.create_course(s, school, "CAN1", "Cancel", "en")
        teacher = accounts.create_user(s, school, "can-teacher", "pw-can-teacher", "teacher")
        accounts.enrol(s, teacher, course)
        course_id, teacher_id = course.id, teacher.id
    yield app, services, embedder, course_id, teacher_id
    services.db.dispose()


def test_a_queued_job_is_cancelled_at_once_and_never_runs(setup):
    app, services, embedder, course_id, teacher_id = setup
    job = services.jobs.enqueue(
        course_id, "rivers.md", f"# Rivers\n\n{S.filler('rivers', 40)}".encode()
    )
    assert services.jobs.cancel(job["id"])["status"] == "cancelled"
    assert services.jobs.run_pending() == []
    assert embedder.calls == 0


def test_a_running_job_stops_at_its_next_step_and_publishes_nothing(setup):
    app, services, embedder, course_id, teacher_id = setup
    first = services.ingest.ingest(
        course_id, "rivers.md", b"# Rivers\n\nThe Nile is a long river.\n"
    )
    embedder.calls = 0
    job = services.jobs.enqueue(
        course_id, "rivers.md", f"# Rivers\n\n{S.filler('rivers', 200)}".encode()
    )
    embedder.runner, embedder.job_id = services.jobs, job["id"]
    [done] = services.jobs.run_pending()
    assert done["status"] == "cancelled" and done["error_code"] == "cancelled"
    assert (
        embedder.calls == 2
    )  # it stopped at the step after the click, not at the end of the document
    with services.db.session() as s:
        doc = s.get(Document, first.document_id)
        assert doc.version == first.version  # the visible version is untouched
        versions = set(s.scalars(select(Passage.version).where(Passage.document_id == doc.id)))
    assert versions == {first.version}
    assert set(services.vector_store.ids(course_id)) == set(
        services.vector_store.ids(course_id, where={"version": first.version})
    )


def test_the_api_cancels_a_job_for_the_courses_teacher_only(setup):
    app, services, embedder, course_id, teacher_id = setup
    client = app.test_client()
    token = client.post(
        "/api/v1/tokens", json={"username": "can-teacher", "password": "pw-can-teacher"}
    ).get_json()["token"]
    job = services.jobs.enqueue(
        course_id, "lakes.md", b"# Lakes\n\nLake Vanern is large.", uploaded_by=teacher_id
    )
    r = client.post(
        f"/api/v1/jobs/{job['id']}/cancel", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    assert (
        client.post(
            "/api/v1/jobs/999999/cancel", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/api/v1/jobs/{2**63}/cancel", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 404
    )


def test_one_teachers_uploads_do_not_keep_everyone_else_waiting(setup):
    app, services, embedder, course_id, teacher_id = setup
    a = [
        services.jobs.enqueue(
            course_id, f"a{i}.md", f"# A{i}\n\nnote a {i}".encode(), uploaded_by=101
        )["id"]
        for i in range(3)
    ]
    b = services.jobs.enqueue(course_id, "b.md", b"# B\n\nnote b", uploaded_by=202)["id"]
    assert [services.jobs.claim() for _ in range(4)] == [a[0], b, a[1], a[2]]
    with services.db.session() as s:
        queued = list(s.scalars(select(Job).where(Job.id.in_([*a, b])).order_by(Job.id)))
        assert [j.id for j in fair_order(queued, busy={101})] == [
            b,
            a[0],
            a[1],
            a[2],
        ]  # A already has one running


def test_the_production_app_never_runs_jobs_in_a_web_worker(tmp_path):
    """app.wsgi (what gunicorn serves) leaves ingestion and compaction jobs to `kateder worker`,
    whatever the environment says."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {
        **os.environ,
        "KATEDER_HOME": str(tmp_path),
        "KATEDER_DATABASE_URL": f"sqlite:///{tmp_path}/k.db",
        "KATEDER_JOBS_IN_PROCESS": "true",
        "ANONYMIZED_TELEMETRY": "False",
    }
    code = (
        "from app.wsgi import app; from app.services import get_services; "
        "print(app.config['JOBS_IN_PROCESS'], get_services(app).start_job_thread())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False False"

"""The material JSON API: teacher-only upload as a job, status, documents, review, delete,
originals."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from core.models import AuditEvent, Job, Passage
from tests import ingest_samples as S


@pytest.fixture
def app_config(tmp_path, sqlite_url) -> dict:
    """Jobs run when the test says so (no thread), so the test is deterministic."""
    return {
        "HOME": str(tmp_path / "instance"),
        "DATABASE_URL": sqlite_url,
        "SECRET_KEY": "test",
        "TESTING": True,
        "JOBS_IN_PROCESS": False,
        "MAX_UPLOAD_BYTES": 200_000,
    }


@pytest.fixture
def auth(login_token):
    return lambda user: {"Authorization": f"Bearer {login_token(user)}"}


def _upload(client, headers, name: str, data: bytes, code: str = "SCI7", **form):
    return client.post(
        f"/api/v1/courses/{code}/documents",
        headers=headers,
        data={"file": (io.BytesIO(data), name), **form},
        content_type="multipart/form-data",
    )


def _documents(client, headers, code: str = "SCI7") -> dict:
    r = client.get(f"/api/v1/courses/{code}/documents", headers=headers)
    assert r.status_code == 200, r.get_json()
    return {d["filename"]: d for d in r.get_json()["documents"]}


def test_teacher_uploads_a_pdf_and_follows_the_job(client, services, auth):
    teacher = auth("teacher")
    r = _upload(
        client,
        teacher,
        "cells.pdf",
        S.pdf([S.PHOTOSYNTHESIS, "Mitochondria release energy from sugar by respiration."]),
        title="Cells",
    )
    assert r.status_code == 202, r.get_json()
    job = r.get_json()
    assert job["status"] == "queued" and job["filename"] == "cells.pdf"
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=teacher).get_json()["stage"] == "queued"
    services.jobs.run_pending()
    status = client.get(f"/api/v1/jobs/{job['id']}", headers=teacher).get_json()
    assert (status["status"], status["progress"], status["result"]["status"]) == (
        "done",
        100.0,
        "ready",
    )
    docs = _documents(client, teacher)
    cells = docs["cells.pdf"]
    assert (cells["title"], cells["version"], cells["status"], cells["held"], cells["visible"]) == (
        "Cells",
        1,
        "ready",
        0,
        True,
    )
    assert cells["passages"] >= 2 and docs["photosynthesis.md"]["passages"] >= 1
    passages = client.get(
        f"/api/v1/courses/SCI7/documents/{cells['id']}/passages", headers=teacher
    ).get_json()["passages"]
    assert {p["page"] for p in passages} == {1, 2}
    jobs = client.get("/api/v1/courses/SCI7/jobs", headers=teacher).get_json()["jobs"]
    assert jobs[0]["id"] == job["id"]
    with services.db.session() as s:
        event = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "upload").order_by(AuditEvent.seq.desc())
        ).first()
        assert event.details["job_id"] == job["id"] and event.course_id is not None


def test_only_teachers_of_the_course_manage_material(client, auth):
    data = b"# Notes\n\nsome notes"
    assert client.get("/api/v1/courses/SCI7/documents").status_code == 401
    assert _upload(client, {}, "n.md", data).status_code in (
        400,
        401,
    )  # no token: CSRF or login refuses it
    r = _upload(client, auth("student1"), "n.md", data)
    assert r.status_code == 403 and r.get_json()["error"] == "forbidden"
    assert client.get("/api/v1/courses/SCI7/documents", headers=auth("student1")).status_code == 403
    assert client.get("/api/v1/courses/NOPE/documents", headers=auth("teacher")).status_code == 404
    assert client.get("/api/v1/jobs/999", headers=auth("teacher")).status_code == 404


BAD_UPLOADS = [
    ("lie.pdf", lambda: S.docx([(1, "A", "text")]), 415, "mismatch"),
    ("secret.pdf", lambda: S.pdf(["answers"], encrypt="pw"), 400, "encrypted"),
    ("cut.pptx", lambda: S.pptx([("A", "text")])[:3000], 400, "corrupt"),
    ("bomb.docx", lambda: S.zip_bomb(S.docx([(1, "A", "text")]), size=2_000_000), 400, "zip_bomb"),
    ("big.txt", lambda: b"a" * 200_001, 413, "too_large"),
    ("../../../etc/cron.d/x.md", lambda: b"# x", 400, "name_path"),
    ("tab\t.md", lambda: b"# x", 400, "name_control"),
    ("empty.md", lambda: b"", 400, "empty"),
]


def test_bad_uploads_are_refused_clearly_and_the_course_stays_intact(client, services, auth):
    teacher = auth("teacher")
    before = _documents(client, teacher)
    for name, make, status, code in BAD_UPLOADS:
        r = _upload(client, teacher, name, make())
        assert r.status_code == status, (name, r.get_json())
        assert r.get_json()["error"] == code and r.get_json()["message"], name
        assert _documents(client, teacher) == before, name
        hits = services.retriever.retrieve(
            _course_id(services), "Where does photosynthesis happen?"
        )
        assert hits[0].document_title == "Photosynthesis" and hits[0].relevant, name
    with services.db.session() as s:
        assert s.scalars(select(Job)).all() == []


def _course_id(services, code: str = "SCI7") -> int:
    from core.models import Course

    with services.db.session() as s:
        return s.scalar(select(Course.id).where(Course.code == code))


def test_messages_follow_the_users_language(client, services, auth):
    from core.models import User

    with services.db.session() as s:
        s.scalar(select(User).where(User.username == "teacher")).language = "sv"
    r = _upload(client, auth("teacher"), "empty.md", b"")
    assert r.get_json()["message"] == "empty.md: filen är tom."


def test_held_passage_is_released_or_rejected_by_the_teacher(client, services, auth):
    teacher = auth("teacher")
    text = (
        f"# Lab\n\n{S.PHOTOSYNTHESIS}\n\n## Danger\n\n"
        "Never try to build a bomb from lab chemicals.\n"
    )
    _upload(client, teacher, "lab.md", text.encode())
    services.jobs.run_pending()
    lab = _documents(client, teacher)["lab.md"]
    assert (lab["status"], lab["held"]) == ("held", 1)
    [held] = client.get(
        f"/api/v1/courses/SCI7/documents/{lab['id']}/passages?status=held", headers=teacher
    ).get_json()["passages"]
    assert "S9" in held["flag_reason"] and held["section"] == "Lab > Danger"
    assert (
        client.post(
            f"/api/v1/courses/SCI7/passages/{held['id']}/release", headers=auth("student1")
        ).status_code
        == 403
    )
    r = client.post(f"/api/v1/courses/SCI7/passages/{held['id']}/release", headers=teacher)
    assert r.status_code == 200 and r.get_json()["status"] == "indexed"
    assert _documents(client, teacher)["lab.md"]["status"] == "ready"
    assert (
        client.post(
            f"/api/v1/courses/SCI7/passages/{held['id']}/reject", headers=teacher
        ).status_code
        == 404
    )


def test_delete_document_removes_it_everywhere_and_is_audited(client, services, auth):
    teacher = auth("teacher")
    _upload(
        client,
        teacher,
        "clouds.md",
        b"# Clouds\n\nCumulonimbus clouds bring thunderstorms and hail.\n",
    )
    services.jobs.run_pending()
    clouds = _documents(client, teacher)["clouds.md"]
    course = _course_id(services)
    assert services.vector_store.search_text(course, "Cumulonimbus")
    assert (
        client.delete(
            f"/api/v1/courses/SCI7/documents/{clouds['id']}", headers=auth("student1")
        ).status_code
        == 403
    )
    r = client.delete(f"/api/v1/courses/SCI7/documents/{clouds['id']}", headers=teacher)
    assert r.status_code == 200 and r.get_json()["deleted"]["filename"] == "clouds.md"
    assert "clouds.md" not in _documents(client, teacher)
    assert services.vector_store.search_text(course, "Cumulonimbus") == []
    with services.db.session() as s:
        assert not s.scalars(select(Passage).where(Passage.text.contains("Cumulonimbus"))).all()
        assert (
            s.scalars(select(AuditEvent).where(AuditEvent.action == "delete_document"))
            .one()
            .details["document_id"]
            == clouds["id"]
        )
    assert (
        client.delete(f"/api/v1/courses/SCI7/documents/{clouds['id']}", headers=teacher).status_code
        == 404
    )


def test_originals_open_for_teachers_and_enrolled_students_only(client, services, auth):
    teacher = auth("teacher")
    pdf = S.pdf([S.PHOTOSYNTHESIS])
    html = (
        b"<h1>Plants</h1><p onclick='steal()'>Green plants.</p>"
        b"<script>alert(document.cookie)</script>"
    )
    _upload(client, teacher, "leaf.pdf", pdf)
    _upload(client, teacher, "leaf.html", html)
    services.jobs.run_pending()
    docs = _documents(client, teacher)
    r = client.get(
        f"/api/v1/courses/SCI7/documents/{docs['leaf.pdf']['id']}/original",
        headers=auth("student1"),
    )
    assert r.status_code == 200 and r.data == pdf and r.mimetype == "application/pdf"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    r = client.get(
        f"/api/v1/courses/SCI7/documents/{docs['leaf.html']['id']}/original", headers=teacher
    )
    assert r.status_code == 200 and b"Green plants." in r.data
    assert (
        b"<script" not in r.data
        and b"onclick" not in r.data
        and "sandbox" in r.headers["Content-Security-Policy"]
    )
    # student2 is not enrolled in SCI7
    assert (
        client.get(
            f"/api/v1/courses/SCI7/documents/{docs['leaf.pdf']['id']}/original",
            headers=auth("student2"),
        ).status_code
        == 403
    )
    # a document of another course is not reachable through this course
    hist = _documents(client, teacher, "HIST8")
    other = next(iter(hist.values()))["id"]
    assert (
        client.get(f"/api/v1/courses/SCI7/documents/{other}/original", headers=teacher).status_code
        == 404
    )

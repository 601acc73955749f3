"""Per-document limits on extracted text and passages, with a clear message (docs/operations.md)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from app import create_app
from app.services import accounts, get_services
from core.models import AuditEvent, Document, Passage
from ingest.errors import IngestError

SENTENCE = "Plants use sunlight to turn water and carbon dioxide into glucose and oxygen. "


@pytest.fixture
def limited(app_config, fakes):
    """An app whose documents may hold at most 2,000 characters and 3 passages."""
    app = create_app(
        {
            **app_config,
            "MAX_DOCUMENT_CHARS": 2000,
            "MAX_DOCUMENT_PASSAGES": 3,
            "CHUNK_TOKENS": 40,
            "JOBS_IN_PROCESS": False,
        },
        services=fakes,
    )
    services = get_services(app)
    with services.db.session() as s:
        school = accounts.create_school(s, "Limits School")
        course_id = accounts.create_course(s, school, "LIM1", "Limits", "en").id
    yield app, services, course_id
    services.db.dispose()


def _nothing_indexed(services, course_id: int) -> None:
    with services.db.session() as s:
        assert (
            s.scalar(
                select(func.count()).select_from(Passage).where(Passage.course_id == course_id)
            )
            == 0
        )
        assert (
            s.scalar(
                select(func.count())
                .select_from(Document)
                .where(Document.course_id == course_id, Document.version > 0)
            )
            == 0
        )
    assert services.vector_store.ids(course_id) == []


def test_a_text_file_far_over_the_limit_is_refused_at_upload(limited):
    app, services, course_id = limited
    with pytest.raises(IngestError) as err:
        services.ingest.ingest(
            course_id, "huge.txt", (SENTENCE * 200).encode()
        )  # 15,000 bytes > 4 x 2,000
    assert err.value.code == "too_much_text" and err.value.status == 413
    assert "more than 2,000 characters" in err.value.message("en")
    assert "mer än 2,000 tecken" in err.value.message("sv")
    _nothing_indexed(services, course_id)


def test_too_much_extracted_text_stops_the_job_with_a_clear_message(limited):
    app, services, course_id = limited
    with pytest.raises(IngestError) as err:
        services.ingest.ingest(
            course_id, "long.md", ("# Notes\n\n" + SENTENCE * 40).encode()
        )  # 3,100 chars < 8,000 bytes
    assert err.value.code == "too_much_text"
    _nothing_indexed(services, course_id)


def test_too_many_passages_stop_the_job_and_leave_nothing_half_indexed(limited):
    app, services, course_id = limited
    text = "\n\n".join(f"Section {i}. " + SENTENCE * 2 for i in range(8))[:1900]
    with pytest.raises(IngestError) as err:
        services.ingest.ingest(course_id, "many.txt", text.encode())
    assert err.value.code == "too_many_passages" and "more than 3 passages" in err.value.message(
        "en"
    )
    _nothing_indexed(services, course_id)


def test_within_the_limits_a_document_is_indexed(limited):
    app, services, course_id = limited
    result = services.ingest.ingest(course_id, "short.txt", (SENTENCE * 2).encode())
    assert result.passages >= 1


def test_the_api_answers_413_and_records_a_security_event(limited):
    app, services, course_id = limited
    with services.db.session() as s:
        from core.models import Course, School

        school = s.scalar(select(School).where(School.name == "Limits School"))
        teacher = accounts.create_user(s, school, "lim-teacher", "pw-lim-teacher", "teacher")
        accounts.enrol(s, teacher, s.get(Course, course_id))
    client = app.test_client()
    token = client.post(
        "/api/v1/tokens", json={"username": "lim-teacher", "password": "pw-lim-teacher"}
    ).get_json()["token"]
    r = client.post(
        "/api/v1/courses/LIM1/documents",
        headers={"Authorization": f"Bearer {token}"},
        data={"file": (io.BytesIO((SENTENCE * 200).encode()), "huge.txt")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 413 and r.get_json()["error"] == "too_much_text"
    assert "2,000 characters" in r.get_json()["message"]
    with services.db.session() as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "upload_rejected"))
    assert event.details["reason"] == "too_much_text" and event.details["filename"] == "huge.txt"

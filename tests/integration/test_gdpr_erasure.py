"""Erasure removes a student everywhere: database rows, text, uploads, vectors, files and keys."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, select, text

from app import create_app
from app.services import accounts, get_services
from app.services.audit import verify_chain
from app.services.gdpr import SubjectNotFound
from core.models import AuditEvent, Course, DsarRequest, Message, SubjectKey, User

MARKER = "zanzibarquokka"
USERNAME = "erin_q7x"
UPLOAD_MARKER = "quokkadiary"
JOB_MARKER = "wombatqueue"
MATERIAL = (
    b"# Photosynthesis\n\nPlants make sugar from light, water and carbon dioxide. "
    b"This is called photosynthesis.\n"
)


def _services(tmp_path, database_url, fakes, **config):
    app = create_app(
        {
            "HOME": str(tmp_path / "instance"),
            "DATABASE_URL": database_url,
            "SECRET_KEY": "t",
            **config,
        },
        services=fakes,
    )
    return get_services(app)


def _world(services) -> dict[str, int]:
    """A school with a course, its teacher's material, and two students; returns ids."""
    with services.db.session() as s:
        school = accounts.create_school(s, "Erasure School")
        course = accounts.create_course(s, school, "BIO1", "Biology", "en")
        teacher = accounts.create_user(s, school, "tess", "pw-123456", "teacher")
        erin = accounts.create_user(s, school, USERNAME, "pw-123456", "student")
        olle = accounts.create_user(s, school, "olle", "pw-123456", "student")
        for u in (teacher, erin, olle):
            accounts.enrol(s, u, course)
        accounts.issue_token(s, erin)
        ids = {"course": course.id, "teacher": teacher.id, "erin": erin.id, "olle": olle.id}
    services.ingest.ingest(ids["course"], "photosynthesis.md", MATERIAL, uploaded_by=ids["teacher"])
    return ids


def _table_hits(services, needle: str) -> list[str]:
    """Every table and column whose value contains ``needle`` (all columns, cast to text)."""
    hits = []
    engine = services.db.engine
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            for row in conn.execute(text(f'SELECT * FROM "{table}"')).mappings():
                for col, value in row.items():
                    raw = value if isinstance(value, bytes | memoryview) else str(value).encode()
                    if needle.encode() in bytes(raw):
                        hits.append(f"{table}.{col}")
    return hits


def _file_hits(home: Path, needle: str) -> list[str]:
    hits = []
    for root, _dirs, files in os.walk(home):
        for name in files:
            path = Path(root) / name
            if needle.encode() in path.read_bytes():
                hits.append(str(path.relative_to(home)))
    return hits


def _chroma_hits(services, needle: str) -> list[str]:
    hits = []
    client = services.vector_store.client
    for col in client.list_collections():
        col = client.get_collection(col.name if hasattr(col, "name") else col)
        got = col.get(include=["documents", "metadatas"])
        for pid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
            if needle in (doc or "") or needle in json.dumps(meta or {}):
                hits.append(f"{col.name}:{pid}")
    return hits


@pytest.mark.parametrize("storage", ["plain", "encrypted"])
def test_erasure_leaves_nothing_of_the_students_text(tmp_path, database_url, fakes, storage):
    services = _services(tmp_path, database_url, fakes, MESSAGE_TEXT_STORAGE=storage)
    home = Path(services.config["HOME"])
    ids = _world(services)
    first = services.ask.ask(ids["erin"], "BIO1", f"What is photosynthesis, asks {MARKER}?")
    services.ask.ask(
        ids["erin"], "BIO1", f"And {MARKER} wonders about light?", first.conversation_id
    )
    other = services.ask.ask(ids["olle"], "BIO1", "What is photosynthesis?")
    services.ingest.ingest(
        ids["course"],
        "my-notes.md",
        f"# Notes\n\nMy {UPLOAD_MARKER} about plants and light.\n".encode(),
        uploaded_by=ids["erin"],
    )
    queued = services.jobs.enqueue(
        ids["course"],
        "queued.md",
        f"# Queued\n\nMy {JOB_MARKER} waiting upload.\n".encode(),
        uploaded_by=ids["erin"],
    )  # an upload still queued (or failed) at erasure time
    services.gdpr.open_conversation(
        ids["teacher"], first.conversation_id, "Checking a worrying question from class"
    )
    exported = services.gdpr.export_subject(USERNAME)
    assert MARKER in exported.json_path.read_text(encoding="utf-8")
    # the text is really there before erasure (otherwise the scans below prove nothing)
    with services.db.session() as s:
        texts = [services.gdpr.read_text(s, m) for m in s.scalars(select(Message))]
    assert any(MARKER in (t or "") for t in texts)
    assert _chroma_hits(services, UPLOAD_MARKER)
    assert _file_hits(home, UPLOAD_MARKER)  # the stored original and Chroma's files
    assert _file_hits(home, JOB_MARKER) and services.jobs.status(queued["id"]) is not None
    if storage == "plain":
        assert _table_hits(services, MARKER)
        if services.db.is_sqlite:
            assert any(h.startswith("kateder.db") for h in _file_hits(home, MARKER))

    receipt = services.gdpr.erase_subject(
        str(ids["erin"])
    )  # a numeric id works as well as a username

    assert receipt["key_destroyed"] is (storage == "encrypted")
    assert (
        receipt["conversations"] == 1
        and receipt["messages"] == 4
        and receipt["documents_deleted"] == 1
    )
    assert receipt["export_files_deleted"] == 2
    assert receipt["upload_jobs"] == 1 and services.jobs.status(queued["id"]) is None
    for needle in (MARKER, UPLOAD_MARKER, JOB_MARKER, USERNAME):
        assert _table_hits(services, needle) == [], needle
        assert _file_hits(home, needle) == [], needle
        assert _chroma_hits(services, needle) == [], needle
    with services.db.session() as s:
        assert s.get(User, ids["erin"]) is None
        assert s.get(SubjectKey, ids["erin"]) is None
        # the other student and the course material are untouched
        olle_texts = [
            services.gdpr.read_text(s, m)
            for m in s.scalars(
                select(Message).where(Message.conversation_id == other.conversation_id)
            )
        ]
        assert olle_texts[0] == "What is photosynthesis?"
        subject = services.gdpr.subject(ids["erin"])
        actions = [
            e.action
            for e in s.scalars(
                select(AuditEvent).where(AuditEvent.subject == subject).order_by(AuditEvent.seq)
            )
        ]
        assert {"question", "dsar_export"} <= set(
            actions
        )  # the skeleton of the student's events stays
        assert actions[-1] == "erasure"
        request = s.scalar(select(DsarRequest).where(DsarRequest.kind == "erase"))
        assert request.subject == subject and request.user_id is None
        assert verify_chain(s)["ok"]
    assert services.vector_store.count(ids["course"]) > 0
    assert services.retriever.retrieve(ids["course"], "photosynthesis light")


def test_sealed_text_in_a_backup_is_unreadable_after_erasure(tmp_path, database_url, fakes):
    services = _services(tmp_path, database_url, fakes)
    ids = _world(services)
    services.ask.ask(ids["erin"], "BIO1", f"Photosynthesis question from {MARKER}?")
    with services.db.session() as s:
        backup = [(bytes(m.text_encrypted), m.text) for m in s.scalars(select(Message))]
        assert all(
            blob and plain is None for blob, plain in backup
        )  # encrypted is the default; no plaintext column
        assert all(MARKER.encode() not in blob for blob, _ in backup)
        assert MARKER in services.gdpr.keys.open(s, ids["erin"], backup[0][0])
        wrapped_backup = bytes(s.get(SubjectKey, ids["erin"]).wrapped_key)
    receipt = services.gdpr.erase_subject(USERNAME)
    assert receipt["key_destroyed"] and receipt["master_key_rotated"]
    with services.db.session() as s:
        assert all(services.gdpr.keys.open(s, ids["erin"], blob) is None for blob, _ in backup)
        s.add(
            SubjectKey(user_id=ids["erin"], wrapped_key=wrapped_backup)
        )  # even a restored key from a backup...
    with services.db.session() as s:
        assert all(
            services.gdpr.keys.open(s, ids["erin"], blob) is None for blob, _ in backup
        )  # ...opens nothing


def test_staff_uploads_stay_as_school_material(tmp_path, database_url, fakes):
    services = _services(tmp_path, database_url, fakes)
    ids = _world(services)
    receipt = services.gdpr.erase_subject("tess")
    assert receipt["documents_deleted"] == 0 and receipt["documents_unattributed"] == 1
    with services.db.session() as s:
        course = s.get(Course, ids["course"])
        assert [d.uploaded_by for d in course.documents] == [None]


def test_unknown_user_is_reported(tmp_path, database_url, fakes):
    services = _services(tmp_path, database_url, fakes)
    with pytest.raises(SubjectNotFound):
        services.gdpr.erase_subject("nobody")


def test_cli_dsar_export_and_erase(tmp_path, sqlite_url, fakes, monkeypatch):
    from app.cli import main

    services = _services(tmp_path, sqlite_url, fakes)
    ids = _world(services)
    services.ask.ask(ids["erin"], "BIO1", f"What is photosynthesis, asks {MARKER}?")
    monkeypatch.setenv("KATEDER_HOME", services.config["HOME"])
    monkeypatch.setenv("KATEDER_DATABASE_URL", sqlite_url)
    runner = CliRunner()
    out_dir = tmp_path / "dsar-out"
    exported = runner.invoke(
        main, ["dsar", "export", "--user", USERNAME, "--out", str(out_dir), "--json"]
    )
    assert exported.exit_code == 0, exported.output
    paths = json.loads(exported.output)
    data = json.loads(Path(paths["json"]).read_text(encoding="utf-8"))
    assert data["account"]["username"] == USERNAME
    assert MARKER in data["conversations"][0]["messages"][0]["text"]
    assert MARKER in Path(paths["html"]).read_text(encoding="utf-8")
    erased = runner.invoke(main, ["dsar", "erase", "--user", str(ids["erin"])])
    assert erased.exit_code == 0, erased.output
    assert "Erasure receipt" in erased.output and "data key destroyed: yes" in erased.output
    again = runner.invoke(main, ["dsar", "erase", "--user", USERNAME, "--json"])
    assert again.exit_code == 1 and "no user" in again.stderr

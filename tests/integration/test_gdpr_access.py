"""Access with a reason, and the data-subject export that shows it, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app import create_app
from app.services import accounts, get_services
from app.services.gdpr import AccessDenied, ReasonRequired
from core.models import AccessLog, AuditEvent, DsarRequest

MATERIAL = b"# Atoms\n\nAn atom has a nucleus of protons and neutrons, with electrons around it.\n"
REASON = "The student wrote something worrying; checking before the parent meeting"


@pytest.fixture
def services(tmp_path, database_url, fakes):
    """A school with two courses, two teachers, a student in course A, an admin and a DPO."""
    app = create_app(
        {"HOME": str(tmp_path / "instance"), "DATABASE_URL": database_url, "SECRET_KEY": "t"},
        services=fakes,
    )
    services = get_services(app)
    with services.db.session() as s:
        school = accounts.create_school(s, "Access School")
        other_school = accounts.create_school(s, "Other School")
        a = accounts.create_course(s, school, "PHYA", "Physics A", "en")
        b = accounts.create_course(s, school, "PHYB", "Physics B", "en")
        users = {
            "ta": accounts.create_user(
                s, school, "ta", "pw-123456", "teacher", display_name="Teacher A", language="sv"
            ),
            "tb": accounts.create_user(s, school, "tb", "pw-123456", "teacher"),
            "stu": accounts.create_user(s, school, "stu", "pw-123456", "student", language="sv"),
            "adm": accounts.create_user(s, school, "adm", "pw-123456", "admin"),
            "dpo": accounts.create_user(s, school, "dpo1", "pw-123456", "dpo"),
            "far": accounts.create_user(s, other_school, "far", "pw-123456", "admin"),
        }
        accounts.enrol(s, users["ta"], a)
        accounts.enrol(s, users["tb"], b)
        accounts.enrol(s, users["stu"], a)
        services.ids = {k: u.id for k, u in users.items()} | {"a": a.id}
    services.ingest.ingest(services.ids["a"], "atoms.md", MATERIAL, uploaded_by=services.ids["ta"])
    yield services
    services.db.dispose()


def test_opening_a_conversation_needs_a_reason_and_the_right_role(services):
    ids = services.ids
    conv = services.ask.ask(ids["stu"], "PHYA", "What is an atom?").conversation_id
    with pytest.raises(ReasonRequired) as err:
        services.gdpr.open_conversation(ids["ta"], conv, "   because ")
    assert "minst 10 tecken" in err.value.message  # in the teacher's language
    for actor in ("tb", "stu", "far"):
        with pytest.raises(AccessDenied):
            services.gdpr.open_conversation(ids[actor], conv, REASON)
    with services.db.session() as s:
        assert s.scalars(select(AccessLog)).all() == []

    for actor in ("ta", "adm", "dpo"):
        seen = services.gdpr.open_conversation(ids[actor], conv, REASON)
        assert seen["messages"][0]["text"] == "What is an atom?" and seen["reason"] == REASON
    with services.db.session() as s:
        rows = list(s.scalars(select(AccessLog).order_by(AccessLog.id)))
        assert [r.actor_role for r in rows] == ["teacher", "admin", "dpo"]
        events = list(
            s.scalars(
                select(AuditEvent).where(AuditEvent.action == "admin_view").order_by(AuditEvent.seq)
            )
        )
        assert [e.seq for e in events] == [r.audit_seq for r in rows]
        assert events[0].details["reason"] == REASON and events[0].details[
            "student"
        ] == services.gdpr.subject(ids["stu"])
    log = services.gdpr.access_log()
    assert len(log) == 3 and log[-1]["actor"] == "Teacher A" and log[-1]["reason"] == REASON


def test_subject_export_holds_conversations_access_reasons_and_is_audited(services, tmp_path):
    ids = services.ids
    result = services.ask.ask(ids["stu"], "PHYA", "What is an atom? Mail me at stu@example.com")
    services.gdpr.open_conversation(ids["ta"], result.conversation_id, REASON)
    export = services.gdpr.export_subject("stu", tmp_path / "out")
    data = json.loads(export.json_path.read_text(encoding="utf-8"))
    assert data["account"]["username"] == "stu"
    question = data["conversations"][0]["messages"][0]
    assert (
        question["text"] == "What is an atom? Mail me at [email]"
        and question["text_status"] == "encrypted"
    )
    assert question["verdicts"][0]["stage"] == "input"
    assert [a["reason"] for a in data["access_log"]] == [REASON]
    actions = {e["action"] for e in data["audit_events"]}
    assert "question" in actions and actions & {"answer", "refusal"}
    assert data["retention_days"]["conversation_text"] == 30
    page = export.html_path.read_text(encoding="utf-8")
    assert "Dina uppgifter i Kateder" in page and REASON in page and "[email]" in page
    with services.db.session() as s:
        request = s.scalars(select(DsarRequest)).one()
        assert request.kind == "export" and request.subject == data["subject"]
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "dsar_export")).one()
        assert event.subject == data["subject"] and event.details["request_id"] == request.id
    assert services.gdpr.dsar_requests()[0]["kind"] == "export"


def test_answer_events_carry_verdicts_passages_model_and_latencies(services):
    result = services.ask.ask(services.ids["stu"], "PHYA", "What is an atom made of?")
    with services.db.session() as s:
        question, answer = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.action.in_(["question", "answer", "refusal"]))
            .order_by(AuditEvent.seq)
        ).all()
    assert question.subject == answer.subject == services.gdpr.subject(services.ids["stu"])
    assert question.role == "student" and question.course_id == services.ids["a"]
    assert set(question.details["input_verdict"]) >= {
        "safe",
        "categories",
        "score",
        "backend",
        "model",
    }
    assert answer.details["model"] == result.model
    assert answer.details["passages"] and set(answer.details["passages"][0]) == {
        "id",
        "document_id",
        "version",
    }
    assert {"input_guard", "retrieval", "generation", "output_guard"} <= set(
        answer.details["timings_ms"]
    )
    assert "atom" not in json.dumps(question.details) + json.dumps(
        answer.details
    )  # no text in the log

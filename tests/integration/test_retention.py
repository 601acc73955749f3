"""Retention per data category: settings, the purge, and a chain that still verifies afterwards."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from app import create_app
from app.services import accounts, get_services
from app.services.audit import INSTALLATION, chain_key, verify_chain
from app.services.retention import Retention, RetentionError
from core.models import AccessLog, AuditCheckpoint, AuditEvent, Conversation, Message

MATERIAL = (
    b"# Water\n\nWater evaporates, condenses into clouds and falls as rain. "
    b"This is the water cycle.\n"
)


@pytest.fixture
def services(tmp_path, database_url, fakes):
    """Services on a fresh database (SQLite or PostgreSQL) with one course, a teacher and a
    student."""
    app = create_app(
        {"HOME": str(tmp_path / "instance"), "DATABASE_URL": database_url, "SECRET_KEY": "t"},
        services=fakes,
    )
    services = get_services(app)
    with services.db.session() as s:
        school = accounts.create_school(s, "Retention School")
        course = accounts.create_course(s, school, "GEO1", "Geography", "en")
        teacher = accounts.create_user(s, school, "rita", "pw-123456", "teacher")
        student = accounts.create_user(s, school, "sam", "pw-123456", "student")
        accounts.enrol(s, teacher, course)
        accounts.enrol(s, student, course)
        services.ids = {
            "course": course.id,
            "teacher": teacher.id,
            "student": student.id,
            "school": school.id,
        }
    services.ingest.ingest(
        services.ids["course"], "water.md", MATERIAL, uploaded_by=services.ids["teacher"]
    )
    yield services
    services.db.dispose()


def _verify(services):
    with services.db.session() as s:
        return verify_chain(s, services.audit.anchors())


def test_defaults_respect_the_ai_act_minimum_and_settings_are_audited(services):
    retention = Retention(services)
    days = retention.settings()
    assert days["conversation_text"] == 30
    assert days["audit_details"] >= 183 and days["audit_events"] >= 183
    with pytest.raises(RetentionError):
        retention.set("audit_events", 30)
    with pytest.raises(RetentionError):
        retention.set("no_such_category", 30)
    assert retention.set("conversation_text", 7)["conversation_text"] == 7
    assert retention.settings()["conversation_text"] == 7
    with services.db.session() as s:
        change = s.scalars(select(AuditEvent).where(AuditEvent.action == "retention_change")).one()
        assert change.details == {"category": "conversation_text", "from_days": 30, "to_days": 7}


def test_purge_in_stages_keeps_the_chain_verifiable(services):
    ids = services.ids
    first = services.ask.ask(ids["student"], "GEO1", "What is the water cycle?")
    services.gdpr.open_conversation(
        ids["teacher"], first.conversation_id, "Following up a question from the lesson"
    )
    retention = Retention(services)
    now = datetime.now(UTC)

    # a month and a bit later: the text goes, the messages and the audit details stay
    report = retention.purge(now + timedelta(days=31))
    assert (
        report["conversation_text"] == 2
        and report["conversations"] == 0
        and report["audit_details"] == 0
    )
    with services.db.session() as s:
        msgs = list(s.scalars(select(Message)))
        assert len(msgs) == 2 and all(m.text is None and m.text_encrypted is None for m in msgs)
        assert [services.gdpr.read_text(s, m) for m in msgs] == [None, None]
    assert _verify(services)["ok"]

    # half a year later: messages go, audit details are replaced by their digests
    report = retention.purge(now + timedelta(days=200))
    assert report["conversations"] >= 2 and report["audit_details"] > 0
    with services.db.session() as s:
        assert s.scalar(select(func.count(Message.id))) == 0
        assert s.scalar(select(func.count(Conversation.id))) == 0
        question = s.scalars(select(AuditEvent).where(AuditEvent.action == "question")).one()
        assert (
            question.details == {}
            and question.details_purged_at is not None
            and question.details_digest
        )
        # purge events keep their details: they vouch for checkpoints
        assert all(
            e.details
            for e in s.scalars(select(AuditEvent).where(AuditEvent.action == "retention_purge"))
        )
    assert _verify(services)["ok"]

    # four years later: old events go, per chain; a checkpoint vouched for by a purge event in the
    # same chain keeps each chain verifiable (the school's purge event in the school's chain, the
    # system's in the installation chain)
    report = retention.purge(now + timedelta(days=4 * 365))
    assert report["audit_events"] > 0 and report["access_log"] == 1
    school_chain = chain_key(ids["school"])
    with services.db.session() as s:
        checkpoints = {c.chain: c for c in s.scalars(select(AuditCheckpoint))}
        assert set(checkpoints) == {school_chain, INSTALLATION}
        checkpoint = checkpoints[school_chain]
        remaining = list(
            s.scalars(
                select(AuditEvent).where(AuditEvent.chain == school_chain).order_by(AuditEvent.seq)
            )
        )
        assert remaining[0].seq == checkpoint.seq + 1 and remaining[0].prev_hash == checkpoint.hash
        assert (
            remaining[-1].action == "retention_purge"
            and remaining[-1].details["checkpoint"]["seq"] == checkpoint.seq
        )
        system = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.chain == INSTALLATION)
            .order_by(AuditEvent.seq.desc())
        ).first()
        assert system.details["checkpoints"][0]["seq"] == checkpoints[INSTALLATION].seq
        assert s.scalar(select(func.count(AccessLog.id))) == 0
    report = _verify(services)
    assert report["ok"] and report["chains"][school_chain]["checkpoint_seq"] == checkpoint.seq
    with services.db.session() as s:
        alone = verify_chain(
            s, services.audit.anchors(), school_id=ids["school"]
        )  # the school's chain on its own
    assert alone["ok"] and alone["checkpoint_vouched_by"] == school_chain

    # new events continue the chain after the checkpoint
    services.ask.ask(ids["student"], "GEO1", "What is the water cycle?")
    assert _verify(services)["ok"]


def test_forged_checkpoint_is_detected(services):
    ids = services.ids
    services.ask.ask(ids["student"], "GEO1", "What is the water cycle?")
    with (
        services.db.session() as s
    ):  # someone deletes old events and fakes a checkpoint without a purge event
        first = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.chain == chain_key(ids["school"]))
            .order_by(AuditEvent.seq)
        ).first()
        s.add(
            AuditCheckpoint(
                chain=first.chain, seq=first.seq, hash=first.hash, ts=first.ts, events_removed=1
            )
        )
        s.delete(first)
    report = _verify(services)
    assert not report["ok"] and "checkpoint" in report["problem"]


def test_purge_removes_old_export_files(services, tmp_path):
    services.ask.ask(services.ids["student"], "GEO1", "What is the water cycle?")
    result = services.gdpr.export_subject("sam")
    assert result.json_path.exists()
    report = Retention(services).purge(datetime.now(UTC) + timedelta(days=40))
    assert report["export_files"] == 2 and not result.json_path.exists()


def test_cli_retention_purge_and_show(services, monkeypatch, database_url):
    from app.cli import main

    monkeypatch.setenv("KATEDER_HOME", services.config["HOME"])
    monkeypatch.setenv("KATEDER_DATABASE_URL", database_url)
    runner = CliRunner()
    purged = runner.invoke(main, ["retention", "purge", "--json"])
    assert purged.exit_code == 0, purged.output
    assert json.loads(purged.output)["days"]["conversation_text"] == 30
    bad = runner.invoke(main, ["retention", "set", "audit_events", "10"])
    assert bad.exit_code == 1 and "at least 183" in bad.stderr
    shown = runner.invoke(main, ["retention", "show", "--json"])
    assert {r["category"] for r in json.loads(shown.output)} >= {
        "conversation_text",
        "audit_events",
    }

"""The audit hash chains on SQLite and PostgreSQL: verify catches edited, deleted and inserted rows,
per school."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text, update

from app import create_app
from app.services import accounts, get_services
from app.services.audit import (
    GENESIS,
    INSTALLATION,
    chain_key,
    details_digest,
    event_body,
    event_hash,
    verify_chain,
)
from core.models import AuditEvent, AuditHead, School


@pytest.fixture
def audit_services(tmp_path, database_url, fakes):
    """Services on a fresh database (SQLite or PostgreSQL) with fakes at the model interfaces."""
    app = create_app(
        {"HOME": str(tmp_path / "instance"), "DATABASE_URL": database_url, "SECRET_KEY": "t"},
        services=fakes,
    )
    services = get_services(app)
    yield services
    services.db.dispose()


def _write(services, n: int = 6, school_name: str = "Chain School") -> list[int]:
    with services.db.session() as s:
        school = accounts.create_school(s, school_name)
        username = (
            "chainstudent"
            if school_name == "Chain School"
            else f"student-{school_name.lower().replace(' ', '-')}"
        )
        user = accounts.create_user(s, school, username, "pw-123456", "student")
        seqs = [
            services.audit.record(
                s, "question", user=user, course_id=None, details={"i": i, "text_chars": 10 + i}
            ).seq
            for i in range(n)
        ]
    return seqs


def _verify(services, **which):
    with services.db.session() as s:
        return verify_chain(s, services.audit.anchors(), **which)


def _school_id(services, name: str = "Chain School") -> int:
    with services.db.session() as s:
        return s.scalar(select(School.id).where(School.name == name))


def _rehash(ev: AuditEvent, prev: str) -> str:
    """What an attacker with database access does: recompute an event's hash with the current
    rule."""
    body = event_body(
        ev.seq,
        ev.ts,
        ev.subject,
        ev.role,
        ev.school_id,
        ev.course_id,
        ev.action,
        None,
        ev.details_digest,
        chain=ev.chain,
    )
    return event_hash(prev, body)


def test_intact_chain_verifies_and_events_carry_utc_pseudonymous_subject(audit_services):
    seqs = _write(audit_services)
    report = _verify(audit_services, school_id=_school_id(audit_services))
    assert report["ok"] and report["count"] == len(seqs) and report["head_seq"] == seqs[-1]
    assert _verify(audit_services)["ok"]  # every chain
    with audit_services.db.session() as s:
        ev = s.scalar(select(AuditEvent).where(AuditEvent.seq == seqs[0]))
        assert ev.subject and "chainstudent" not in ev.subject and len(ev.subject) == 32
        ts = ev.ts if ev.ts.tzinfo else ev.ts.replace(tzinfo=UTC)  # SQLite hands back naive UTC
        assert abs((datetime.now(UTC) - ts).total_seconds()) < 60
        assert verify_chain(s)["ok"]
        assert ev.details_digest == details_digest(ev.details)


def test_edited_row_is_named(audit_services):
    seqs = _write(audit_services)
    with audit_services.db.session() as s:
        s.execute(update(AuditEvent).where(AuditEvent.seq == seqs[2]).values(details={"i": 99}))
    report = _verify(audit_services)
    assert (
        not report["ok"] and report["first_bad_seq"] == seqs[2] and "altered" in report["problem"]
    )


def test_edited_skeleton_is_named(audit_services):
    seqs = _write(audit_services)
    with audit_services.db.session() as s:
        s.execute(update(AuditEvent).where(AuditEvent.seq == seqs[3]).values(action="login"))
    report = _verify(audit_services)
    assert (
        not report["ok"] and report["first_bad_seq"] == seqs[3] and "altered" in report["problem"]
    )


def test_edited_and_rehashed_row_is_named(audit_services):
    seqs = _write(audit_services)
    with audit_services.db.session() as s:
        ev = s.scalar(select(AuditEvent).where(AuditEvent.seq == seqs[1]))
        ev.details = {"i": 42}
        ev.details_digest = details_digest(ev.details)
        ev.hash = _rehash(ev, ev.prev_hash)
    report = _verify(audit_services)
    assert (
        not report["ok"] and report["first_bad_seq"] == seqs[1] and "re-hashed" in report["problem"]
    )


def test_deleted_row_is_named(audit_services):
    seqs = _write(audit_services)
    with audit_services.db.session() as s:
        s.execute(text("DELETE FROM audit_events WHERE seq = :seq"), {"seq": seqs[2]})
    report = _verify(audit_services)
    assert (
        not report["ok"] and report["first_bad_seq"] == seqs[2] and "removed" in report["problem"]
    )


def test_deleted_last_row_is_named(audit_services):
    seqs = _write(audit_services)
    with audit_services.db.session() as s:
        s.execute(text("DELETE FROM audit_events WHERE seq = :seq"), {"seq": seqs[-1]})
    report = _verify(audit_services)
    assert (
        not report["ok"] and report["first_bad_seq"] == seqs[-1] and "removed" in report["problem"]
    )


def test_inserted_row_in_the_middle_is_named(audit_services):
    """An attacker renumbers the later events and slips a well-formed event in after seqs[2]."""
    seqs = _write(audit_services)
    with audit_services.db.session() as s:
        for seq in reversed(seqs[3:]):
            s.execute(update(AuditEvent).where(AuditEvent.seq == seq).values(seq=seq + 1))
        anchor = s.scalar(select(AuditEvent).where(AuditEvent.seq == seqs[2]))
        new_seq = seqs[2] + 1
        details = {"i": "forged"}
        digest = details_digest(details)
        body = event_body(
            new_seq,
            anchor.ts,
            anchor.subject,
            anchor.role,
            anchor.school_id,
            None,
            "question",
            None,
            digest,
            chain=anchor.chain,
        )
        s.add(
            AuditEvent(
                chain=anchor.chain,
                seq=new_seq,
                ts=anchor.ts,
                subject=anchor.subject,
                role=anchor.role,
                school_id=anchor.school_id,
                course_id=None,
                action="question",
                details=details,
                details_digest=digest,
                prev_hash=anchor.hash,
                hash=event_hash(anchor.hash, body),
            )
        )
    report = _verify(audit_services)
    assert (
        not report["ok"]
        and report["first_bad_seq"] == seqs[2] + 1
        and "inserted" in report["problem"]
    )


def test_inserted_row_after_the_head_is_named(audit_services):
    seqs = _write(audit_services)
    with audit_services.db.session() as s:
        last = s.scalar(select(AuditEvent).where(AuditEvent.seq == seqs[-1]))
        details = {"forged": True}
        digest = details_digest(details)
        body = event_body(
            last.seq + 1,
            last.ts,
            None,
            None,
            last.school_id,
            None,
            "login",
            None,
            digest,
            chain=last.chain,
        )
        s.add(
            AuditEvent(
                chain=last.chain,
                seq=last.seq + 1,
                ts=last.ts,
                subject=None,
                role=None,
                school_id=last.school_id,
                course_id=None,
                action="login",
                details=details,
                details_digest=digest,
                prev_hash=last.hash,
                hash=event_hash(last.hash, body),
            )
        )
    report = _verify(audit_services)
    assert (
        not report["ok"]
        and report["first_bad_seq"] == seqs[-1] + 1
        and "inserted" in report["problem"]
    )


def test_chain_recomputed_wholesale_is_caught_by_the_anchor(audit_services):
    seqs = _write(audit_services)
    with audit_services.db.session() as s:
        audit_services.audit.anchor(s)
    with (
        audit_services.db.session() as s
    ):  # rewrite event 2 and re-hash everything after it, head included
        prev = GENESIS
        for ev in s.scalars(select(AuditEvent).order_by(AuditEvent.seq)):
            if ev.seq == seqs[1]:
                ev.details = {"i": "rewritten"}
                ev.details_digest = details_digest(ev.details)
            ev.prev_hash, ev.hash = prev, _rehash(ev, prev)
            prev = ev.hash
        s.execute(update(AuditHead).where(AuditHead.chain == ev.chain).values(hash=prev))
    with audit_services.db.session() as s:
        assert verify_chain(s)["ok"]  # without anchors the rewrite is self-consistent...
    report = _verify(audit_services)  # ...but not with the head anchored outside the database
    assert (
        not report["ok"]
        and report["first_bad_seq"] == seqs[-1]
        and "rewritten" in report["problem"]
    )


def test_cli_verify_exit_codes_and_json(audit_services, monkeypatch, database_url):
    from app.cli import main

    seqs = _write(audit_services, 3)
    monkeypatch.setenv("KATEDER_HOME", audit_services.config["HOME"])
    monkeypatch.setenv("KATEDER_DATABASE_URL", database_url)
    runner = CliRunner()
    ok = runner.invoke(main, ["audit", "verify", "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["ok"] is True
    with audit_services.db.session() as s:
        s.execute(update(AuditEvent).where(AuditEvent.seq == seqs[1]).values(role="admin"))
    bad = runner.invoke(main, ["audit", "verify"])
    assert bad.exit_code == 1
    assert f"event {seqs[1]}" in bad.stderr


def test_each_school_has_its_own_chain_verifiable_on_its_own(audit_services):
    a = _write(audit_services, 4, "School A")
    b = _write(audit_services, 3, "School B")
    with audit_services.db.session() as s:
        audit_services.audit.record(
            s, "retention_purge", details={"system": True}
        )  # no school: the installation chain
    assert a == [1, 2, 3, 4] and b == [1, 2, 3]  # sequence numbers count per chain
    school_a, school_b = (
        _school_id(audit_services, "School A"),
        _school_id(audit_services, "School B"),
    )
    with audit_services.db.session() as s:
        chains = dict(s.execute(select(AuditHead.chain, AuditHead.seq)).all())
        first_b = s.scalar(
            select(AuditEvent).where(AuditEvent.chain == chain_key(school_b), AuditEvent.seq == 1)
        )
    assert chains == {chain_key(school_a): 4, chain_key(school_b): 3, INSTALLATION: 1}
    assert first_b.prev_hash == GENESIS  # no legacy chain on a database created after revision 0009
    report_b = _verify(audit_services, school_id=school_b)
    assert (
        report_b["ok"]
        and report_b["count"] == 3
        and report_b["head_seq"] == 3
        and report_b["chain"] == chain_key(school_b)
    )
    assert _verify(audit_services, school_id=None)["count"] == 1  # the installation chain
    everything = _verify(audit_services)
    assert (
        everything["ok"] and everything["count"] == 8 and set(everything["chains"]) == set(chains)
    )

    with audit_services.db.session() as s:  # tamper with school A only
        s.execute(
            update(AuditEvent)
            .where(AuditEvent.chain == chain_key(school_a), AuditEvent.seq == 2)
            .values(action="login")
        )
    bad = _verify(audit_services, school_id=school_a)
    assert not bad["ok"] and bad["first_bad_seq"] == 2 and bad["chain"] == chain_key(school_a)
    assert _verify(audit_services, school_id=school_b)["ok"]
    everything = _verify(audit_services)
    assert (
        not everything["ok"]
        and everything["chain"] == chain_key(school_a)
        and everything["chains"][chain_key(school_b)]["ok"]
    )


def test_event_moved_into_another_schools_chain_is_caught(audit_services):
    _write(audit_services, 2, "School A")
    b = _write(audit_services, 2, "School B")
    school_a, school_b = (
        _school_id(audit_services, "School A"),
        _school_id(audit_services, "School B"),
    )
    with (
        audit_services.db.session() as s
    ):  # append A's last event to B's chain, well linked and renumbered
        ev = s.scalar(
            select(AuditEvent).where(AuditEvent.chain == chain_key(school_a), AuditEvent.seq == 2)
        )
        last_b = s.scalar(
            select(AuditEvent).where(
                AuditEvent.chain == chain_key(school_b), AuditEvent.seq == b[-1]
            )
        )
        ev.chain, ev.seq, ev.prev_hash = chain_key(school_b), b[-1] + 1, last_b.hash
        s.execute(
            update(AuditHead)
            .where(AuditHead.chain == chain_key(school_b))
            .values(seq=b[-1] + 1, hash=ev.hash)
        )
        s.execute(update(AuditHead).where(AuditHead.chain == chain_key(school_a)).values(seq=1))
    report = _verify(audit_services, school_id=school_b)
    assert (
        not report["ok"]
        and report["first_bad_seq"] == b[-1] + 1
        and "another school" in report["problem"]
    )


def test_events_of_a_course_without_a_user_go_to_its_schools_chain(audit_services):
    with audit_services.db.session() as s:
        school = accounts.create_school(s, "Course School")
        course = accounts.create_course(s, school, "BIO1", "Biology", "en")
        event = audit_services.audit.record(
            s, "upload", course_id=course.id, details={"via": "cli"}
        )
        assert event.chain == chain_key(school.id) and event.school_id == school.id


def test_anchors_are_kept_per_chain(audit_services):
    _write(audit_services, 3, "School A")
    _write(audit_services, 3, "School B")
    school_a, school_b = (
        _school_id(audit_services, "School A"),
        _school_id(audit_services, "School B"),
    )
    with audit_services.db.session() as s:
        lines = audit_services.audit.anchor(s)
        assert {line["chain"] for line in lines} == {chain_key(school_a), chain_key(school_b)}
        assert audit_services.audit.anchor(s, [chain_key(school_a)])[0]["seq"] == 3
    assert len(audit_services.audit.anchors(chain_key(school_a))) == 2
    with audit_services.db.session() as s:  # recompute A's chain wholesale, head included
        prev = GENESIS
        for ev in s.scalars(
            select(AuditEvent)
            .where(AuditEvent.chain == chain_key(school_a))
            .order_by(AuditEvent.seq)
        ):
            if ev.seq == 2:
                ev.details = {"i": "rewritten"}
                ev.details_digest = details_digest(ev.details)
            ev.prev_hash, ev.hash = prev, _rehash(ev, prev)
            prev = ev.hash
        s.execute(update(AuditHead).where(AuditHead.chain == chain_key(school_a)).values(hash=prev))
    assert _verify(audit_services, school_id=school_a)["ok"] is False
    assert "rewritten" in _verify(audit_services, school_id=school_a)["problem"]
    assert _verify(audit_services, school_id=school_b)["ok"]
    with (
        audit_services.db.session() as s
    ):  # a whole chain removed, head row included: its anchors still name it
        s.execute(text("DELETE FROM audit_events WHERE chain = :c"), {"c": chain_key(school_b)})
        s.execute(text("DELETE FROM audit_head WHERE chain = :c"), {"c": chain_key(school_b)})
    everything = _verify(audit_services)
    assert not everything["chains"][chain_key(school_b)]["ok"]
    assert "missing" in everything["chains"][chain_key(school_b)]["problem"]


def test_cli_verify_one_school(audit_services, monkeypatch, database_url):
    from app.cli import main

    _write(audit_services, 2, "School A")
    _write(audit_services, 2, "School B")
    monkeypatch.setenv("KATEDER_HOME", audit_services.config["HOME"])
    monkeypatch.setenv("KATEDER_DATABASE_URL", database_url)
    runner = CliRunner()
    school_a = _school_id(audit_services, "School A")
    with audit_services.db.session() as s:
        s.execute(
            update(AuditEvent)
            .where(AuditEvent.chain == chain_key(school_a), AuditEvent.seq == 1)
            .values(role="admin")
        )
    ok = runner.invoke(main, ["audit", "verify", "--school", "School B"])
    assert (
        ok.exit_code == 0
        and f"audit chain {chain_key(_school_id(audit_services, 'School B'))} intact: 2 events"
        in ok.output
    )
    bad = runner.invoke(main, ["audit", "verify", "--json"])
    assert bad.exit_code == 1 and json.loads(bad.output)["chain"] == chain_key(school_a)
    assert runner.invoke(main, ["audit", "verify", "--school", "Nowhere"]).exit_code != 0


def test_dpo_audit_export_is_the_schools_chain_with_its_verification_in_the_headers(app, services):
    import re

    with services.db.session() as s:
        school = accounts.create_school(s, "Export School")
        other = accounts.create_school(s, "Elsewhere School")
        accounts.create_user(s, school, "dpo-export", "pw-export-123", "dpo")
        services.audit.record(s, "login", school_id=other.id)
        school_id = school.id
    client = app.test_client()
    page = client.get("/login", headers={"Accept": "text/html"}).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert (
        client.post(
            "/login",
            data={"username": "dpo-export", "password": "pw-export-123", "csrf_token": token},
        ).status_code
        == 302
    )
    r = client.get("/dpo/audit-export")
    events = [json.loads(line) for line in r.text.splitlines()]
    assert (
        r.headers["X-Kateder-Audit-Chain"] == chain_key(school_id)
        and r.headers["X-Kateder-Audit-Chain-Verified"] == "true"
    )
    assert {e["chain"] for e in events} == {chain_key(school_id)} and [
        e["seq"] for e in events
    ] == list(range(1, len(events) + 1))
    assert r.headers["X-Kateder-Audit-Chain-Head"] == f"{events[-1]['seq']}:{events[-1]['hash']}"
    with services.db.session() as s:
        s.execute(
            update(AuditEvent)
            .where(AuditEvent.chain == chain_key(school_id), AuditEvent.seq == 1)
            .values(action="logout")
        )
    broken = client.get("/dpo/audit-export")
    assert broken.headers["X-Kateder-Audit-Chain-Verified"] == "false"
    assert broken.headers["X-Kateder-Audit-Chain-Problem"].startswith("event 1:")

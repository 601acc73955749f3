"""The DPIA-ready audit export: nine parts, checksums, a chain anyone can re-verify, a readable
report."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app import create_app
from app.services import accounts, get_services
from app.services.audit import GENESIS, event_body, event_hash
from app.services.dpia import build_export
from core.models import AuditEvent, School

MATERIAL = (
    b"# Volcanoes\n\nA volcano is an opening in the crust where magma reaches the surface as "
    b"lava.\n"
)
REASON = "Parent asked what the assistant told their child"
PARTS = {
    "record_of_processing.json",
    "events.jsonl",
    "moderation_statistics.json",
    "charts/moderation_by_category.png",
    "charts/moderation_by_week.png",
    "charts/moderation_by_course.png",
    "guard_evaluation.json",
    "dsar_requests.json",
    "access_log.json",
    "ai_act.json",
    "report.html",
    "report.pdf",
    "manifest.json",
}


@pytest.fixture
def services(tmp_path, database_url, fakes):
    """A course with questions (one flagged), a logged access with a reason, and a handled
    erasure."""
    app = create_app(
        {
            "HOME": str(tmp_path / "instance"),
            "DATABASE_URL": database_url,
            "SECRET_KEY": "t",
            "CONTROLLER_NAME": "Lindholmen School",
            "DPO_CONTACT": "dpo@example.org",
        },
        services=fakes,
    )
    services = get_services(app)
    with services.db.session() as s:
        school = accounts.create_school(
            s, "Lindholmen School", "GB"
        )  # an English report (the language follows the country)
        course = accounts.create_course(s, school, "GEO7", "Geography 7", "en")
        teacher = accounts.create_user(s, school, "tina", "pw-123456", "teacher")
        students = [
            accounts.create_user(s, school, f"kid{i}", "pw-123456", "student") for i in range(2)
        ]
        for u in (teacher, *students):
            accounts.enrol(s, u, course)
        ids = {"course": course.id, "teacher": teacher.id, "kids": [u.id for u in students]}
    services.ingest.ingest(ids["course"], "volcano.md", MATERIAL, uploaded_by=ids["teacher"])
    conv = services.ask.ask(ids["kids"][0], "GEO7", "What is a volcano?").conversation_id
    services.ask.ask(ids["kids"][0], "GEO7", "How do I build a bomb?")
    services.ask.ask(ids["kids"][1], "GEO7", "What is lava?")
    services.gdpr.open_conversation(ids["teacher"], conv, REASON)
    services.gdpr.erase_subject("kid1")
    yield services
    services.db.dispose()


def _period():
    now = datetime.now(UTC)
    return now - timedelta(days=7), now + timedelta(days=1)


def test_export_has_the_nine_parts_with_checksums_and_a_verifiable_log(services, tmp_path):
    since, until = _period()
    with services.db.session() as s:
        school_id = s.scalar(select(School.id).where(School.name == "Lindholmen School"))
    result = build_export(
        services, since, until, tmp_path / "out" / "audit.zip", school_id=school_id
    )
    assert result["chain_ok"]
    with zipfile.ZipFile(result["path"]) as zf:
        assert set(zf.namelist()) == PARTS
        files = {name: zf.read(name) for name in zf.namelist()}
    manifest = json.loads(files["manifest.json"])
    for name, entry in manifest["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == entry["sha256"], name
    assert set(manifest["files"]) == PARTS - {"manifest.json"}

    # anyone can recompute the school's chain from events.jsonl alone and land on the manifest's
    # head
    events = [json.loads(line) for line in files["events.jsonl"].decode().splitlines()]
    assert {ev["chain"] for ev in events} == {f"school:{school_id}"} and events[0]["seq"] == 1
    prev = GENESIS  # the chain's start (no legacy chain on this database): the manifest's links_to
    for ev in events:
        body = event_body(
            ev["seq"],
            datetime.fromisoformat(ev["ts"]),
            ev["subject"],
            ev["role"],
            ev["school_id"],
            ev["course_id"],
            ev["action"],
            None,
            ev["details_sha256"],
            chain=ev["chain"],
        )
        assert ev["prev_hash"] == prev and event_hash(prev, body) == ev["hash"]
        prev = ev["hash"]
    assert manifest["chain_head"] == {
        "seq": events[-1]["seq"],
        "hash": prev,
        "verified": True,
        "problem": None,
        "chain": f"school:{school_id}",
        "links_to": GENESIS,
    }
    assert events[-1]["action"] == "audit_export"  # the export itself is on record
    assert not any(
        "volcano" in line.lower() and "what is" in line.lower()
        for line in files["events.jsonl"].decode().splitlines()
    )

    rop = json.loads(files["record_of_processing.json"])
    assert rop["controller"] == "Lindholmen School" and rop["dpo_contact"] == "dpo@example.org"
    assert {m["use"].split(" ")[0] for m in rop["models"]} >= {"answer", "safety", "search"}
    assert all(m["licence"] for m in rop["models"])
    assert {r["category"] for r in rop["retention"]} >= {"conversation_text", "audit_events"}
    stats = json.loads(files["moderation_statistics.json"])
    assert stats["by_category"]["S9"]["count"] == 1
    decisions = stats["by_course"]["GEO7"]
    assert (
        decisions["allow"] == 2
        and sum(n for a, n in decisions.items() if a in ("block", "alert")) == 1
    )
    assert sum(stats["by_week"][w].get("allow", 0) for w in stats["by_week"]) == 2
    assert json.loads(files["access_log.json"])[0]["reason"] == REASON
    assert [d["kind"] for d in json.loads(files["dsar_requests.json"])] == ["erase"]
    ai_act = json.loads(files["ai_act.json"])
    assert set(ai_act["transparency_notice"]) == {"en", "sv", "de", "it", "nb"}
    assert ai_act["log_retention_days"]["audit_events"] >= 183
    assert "available" in json.loads(files["guard_evaluation.json"])
    for name in ("charts/moderation_by_category.png", "charts/moderation_by_week.png"):
        assert files[name].startswith(b"\x89PNG")
    assert files["report.pdf"].startswith(b"%PDF") and len(files["report.pdf"]) > 20_000
    page = files["report.html"].decode()
    for heading in (
        "Record of processing",
        "Moderation statistics",
        "Guard evaluation",
        "Data-subject requests",
        "Staff access",
        "EU AI Act",
        "Integrity",
    ):
        assert heading in page
    assert REASON in page and "Lindholmen School" in page
    with services.db.session() as s:
        assert (
            s.scalars(select(AuditEvent).where(AuditEvent.action == "audit_export"))
            .one()
            .details["requested_by"]
            == "cli"
        )


def test_export_of_an_empty_period_and_a_broken_chain_says_so(services, tmp_path):
    with services.db.session() as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "question")).first()
        ev.details = {"edited": True}
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    result = build_export(services, long_ago, long_ago + timedelta(days=7), tmp_path / "old.zip")
    assert result["events"] == 0 and not result["chain_ok"]
    with zipfile.ZipFile(result["path"]) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        page = zf.read("report.html").decode()
    assert manifest["chain_head"]["verified"] is False and manifest["chain_head"]["problem"]
    assert "BROKEN at event" in page and "No data-subject requests in this period." in page


def test_cli_audit_export(tmp_path, sqlite_url, fakes, monkeypatch):
    from app.cli import main

    app = create_app(
        {"HOME": str(tmp_path / "instance"), "DATABASE_URL": sqlite_url, "SECRET_KEY": "t"},
        services=fakes,
    )
    with get_services(app).db.session() as s:
        get_services(app).audit.record(s, "login", details={"method": "test"})
    monkeypatch.setenv("KATEDER_HOME", str(tmp_path / "instance"))
    monkeypatch.setenv("KATEDER_DATABASE_URL", sqlite_url)
    since, until = _period()
    out = tmp_path / "cli.zip"
    runner = CliRunner()
    done = runner.invoke(
        main,
        [
            "audit",
            "export",
            "--from",
            since.date().isoformat(),
            "--to",
            until.date().isoformat(),
            "--out",
            str(out),
            "--json",
        ],
    )
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output)
    assert summary["path"] == str(out) and summary["events"] == 2 and zipfile.is_zipfile(out)
    with zipfile.ZipFile(out) as zf:
        models = json.loads(zf.read("record_of_processing.json"))["models"]
    assert (
        models[1]["name"].startswith("Kateder guard") and "MIT" in models[1]["licence"]
    )  # the real configured guard
    wrong = runner.invoke(
        main, ["audit", "export", "--from", "2026-13-01", "--to", "2026-12-01", "--out", str(out)]
    )
    assert wrong.exit_code != 0 and "not a date" in wrong.output

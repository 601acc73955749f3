"""Alembic migrations build the schema from an empty database, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from app.db import Database
from core.models import Base


def test_single_head(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    heads = ScriptDirectory.from_config(db.alembic_config()).get_heads()
    assert len(heads) == 1, f"migrations have several heads: {heads}"


def test_upgrade_from_empty_creates_every_model_table(database_url):
    db = Database(database_url)
    db.migrate()  # idempotent on an already-migrated database
    tables = set(inspect(db.engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables
    db.dispose()


def test_upgrade_from_nothing_then_downgrade_to_base(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    db.migrate()
    assert "audit_events" in inspect(db.engine).get_table_names()
    from alembic import command

    command.downgrade(db.alembic_config(), "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    db.dispose()


def test_upgrade_to_sessions_keeps_existing_tokens_valid_and_accounts_unthrottled(database_url):
    """0003_sessions: tokens were already stored as SHA-256, so issued ones keep working."""
    import hashlib
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import text

    from app.services import accounts

    db = Database(database_url)
    from alembic import command

    command.downgrade(db.alembic_config(), "0002_gdpr")
    token = "issued-before-the-upgrade"
    with db.engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO schools (id, name, country, created_at) VALUES (900, 'Old', 'SE', :t)"
            ),
            {"t": datetime.now(UTC)},
        )
        c.execute(
            text(
                "INSERT INTO users "
                "(id, school_id, username, password_hash, role, language, active, created_at) "
                "VALUES (900, 900, 'old-user', 'x', 'student', 'en', :a, :t)"
            ),
            {"a": True, "t": datetime.now(UTC)},
        )
        c.execute(
            text(
                "INSERT INTO api_tokens (user_id, token_hash, created_at, expires_at) "
                "VALUES (900, :h, :t, :e)"
            ),
            {
                "h": hashlib.sha256(token.encode()).hexdigest(),
                "t": datetime.now(UTC),
                "e": datetime.now(UTC) + timedelta(hours=1),
            },
        )
    db.migrate()
    with db.session() as s:
        user = accounts.user_for_token(s, token)
        assert user is not None and user.username == "old-user"
        assert s.scalar(text("SELECT count(*) FROM sign_in_throttle")) == 0
    db.dispose()


def _legacy_db(tmp_path, database_url) -> Database:
    """A database at 0008 (the single audit chain): a fresh SQLite file, or the PostgreSQL one
    downgraded."""
    from alembic import command

    if database_url.startswith("sqlite"):
        db = Database(f"sqlite:///{tmp_path / 'legacy.db'}")
        db.migrate("0008_conversations")
    else:
        db = Database(database_url)
        command.downgrade(db.alembic_config(), "0008_conversations")
    return db


def _write_single_chain(db: Database, n: int) -> list[dict]:
    """Events as the code before 0009 wrote them (one chain, the old hash rule), with a retention
    checkpoint."""
    from datetime import UTC, datetime

    import sqlalchemy as sa
    from sqlalchemy import text

    from app.services.audit import GENESIS, details_digest, event_body, event_hash

    prev, rows = GENESIS, []
    for seq in range(1, n + 1):
        ts = datetime(2026, 9, 1, 8, seq, tzinfo=UTC)
        details = {"i": seq}
        if seq == n:  # the purge that removed events 1 and 2 vouches for their checkpoint
            details = {"checkpoint": {"seq": 2, "hash": rows[1]["hash"], "events_removed": 2}}
        school = 900 if seq % 2 else None
        body = event_body(
            seq,
            ts,
            None,
            None,
            school,
            None,
            "retention_purge" if seq == n else "question",
            details,
            details_digest(details),
        )
        rows.append(
            {
                "seq": seq,
                "ts": ts,
                "school_id": school,
                "action": body["action"],
                "details": details,
                "digest": details_digest(details),
                "prev": prev,
                "hash": event_hash(prev, body),
            }
        )
        prev = rows[-1]["hash"]
    # the tables as revision 0008 has them (typed, so each engine stores times its own way)
    events = sa.table(
        "audit_events",
        *(
            sa.column(n)
            for n in ("seq", "school_id", "action", "details_digest", "prev_hash", "hash")
        ),
        sa.column("ts", sa.DateTime(timezone=True)),
        sa.column("details", sa.JSON()),
    )
    checkpoints = sa.table(
        "audit_checkpoints",
        sa.column("seq"),
        sa.column("hash"),
        sa.column("events_removed"),
        sa.column("ts", sa.DateTime(timezone=True)),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    with db.engine.begin() as c:
        c.execute(
            events.insert(),
            [
                {
                    "seq": r["seq"],
                    "ts": r["ts"],
                    "school_id": r["school_id"],
                    "action": r["action"],
                    "details": r["details"],
                    "details_digest": r["digest"],
                    "prev_hash": r["prev"],
                    "hash": r["hash"],
                }
                for r in rows[2:]
            ],
        )
        c.execute(
            checkpoints.insert().values(
                seq=2,
                hash=rows[1]["hash"],
                ts=rows[1]["ts"],
                events_removed=2,
                created_at=rows[1]["ts"],
            )
        )
        c.execute(
            text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
            {"seq": n, "hash": prev},
        )
    return rows


def test_0009_freezes_the_single_chain_as_legacy_and_new_school_chains_link_to_its_head(
    tmp_path, database_url
):
    from alembic import command
    from sqlalchemy import select, text

    from app.services.audit import (
        LEGACY,
        AuditLog,
        Pseudonymizer,
        chain_key,
        verify_chain,
        verify_school,
    )
    from core.models import AuditEvent, AuditHead

    db = _legacy_db(tmp_path, database_url)
    rows = _write_single_chain(db, 6)
    anchors = [
        {"ts": "2026-09-02T00:00:00+00:00", "seq": 6, "hash": rows[-1]["hash"]}
    ]  # an anchor line from before 0009
    db.migrate("0009_audit_chains")

    log = AuditLog(Pseudonymizer(b"k" * 32))
    with db.session() as s:
        legacy = verify_chain(s, anchors, chain=LEGACY)
        assert (
            legacy["ok"]
            and legacy["count"] == 4
            and legacy["head_seq"] == 6
            and legacy["anchors_checked"] == 1
        ), legacy
        assert legacy["checkpoint_seq"] == 2
        first = log.record(s, "login", school_id=900)
        log.record(s, "login", school_id=900)
        system = log.record(s, "retention_purge", details={})
    assert (first.chain, first.seq, first.prev_hash) == (
        chain_key(900),
        1,
        rows[-1]["hash"],
    )  # linked to the frozen head
    assert (system.chain, system.seq, system.prev_hash) == ("installation", 1, rows[-1]["hash"])
    with db.session() as s:
        everything = verify_chain(s, anchors)
        assert everything["ok"] and set(everything["chains"]) == {
            LEGACY,
            "installation",
            chain_key(900),
        }
        school = verify_school(s, 900, anchors)
        assert (
            school["ok"]
            and school["count"] == 2
            and school["links_to"] == rows[-1]["hash"]
            and school["legacy"]["ok"]
        )
        assert (
            s.scalar(select(AuditHead.seq).where(AuditHead.chain == LEGACY)) == 6
        )  # the legacy head is frozen
        # a legacy event edited after the switch is still caught, with the old rule
        s.execute(
            text("UPDATE audit_events SET action = 'login' WHERE chain = 'legacy' AND seq = 4")
        )
    with db.session() as s:
        assert verify_chain(s, chain=LEGACY)["first_bad_seq"] == 4
        assert verify_chain(s, school_id=900)["ok"]  # the school's own chain is intact...
        assert not verify_school(s, 900)[
            "ok"
        ]  # ...but its export reports the legacy segment it also covers
        s.execute(
            text("UPDATE audit_events SET action = 'question' WHERE chain = 'legacy' AND seq = 4")
        )
        s.execute(
            text("UPDATE audit_head SET hash = :h WHERE chain = 'legacy'"), {"h": "f" * 64}
        )  # a forged legacy head
    with db.session() as s:
        assert not verify_chain(s, chain=LEGACY)["ok"]
        assert "legacy head" in verify_chain(s, school_id=900)["problem"]
        s.execute(
            text("UPDATE audit_head SET hash = :h WHERE chain = 'legacy'"), {"h": rows[-1]["hash"]}
        )

    with pytest.raises(
        RuntimeError, match="per-school audit chains"
    ):  # merging chains would recompute hashes
        command.downgrade(db.alembic_config(), "0008_conversations")
    with (
        db.engine.begin() as c
    ):  # after removing the new chains deliberately, the downgrade goes through
        for table in ("audit_events", "audit_head", "audit_checkpoints"):
            c.execute(text(f"DELETE FROM {table} WHERE chain <> 'legacy'"))
    command.downgrade(db.alembic_config(), "0008_conversations")
    with db.engine.connect() as c:
        assert "chain" not in {col["name"] for col in inspect(c).get_columns("audit_events")}
        assert c.execute(text("SELECT id, seq, hash FROM audit_head")).all() == [
            (1, 6, rows[-1]["hash"])
        ]
        assert [r[0] for r in c.execute(text("SELECT seq FROM audit_events ORDER BY seq"))] == [
            3,
            4,
            5,
            6,
        ]
    db.migrate("0009_audit_chains")
    with db.session() as s:
        assert verify_chain(s, anchors)["ok"]
        assert s.scalar(select(AuditEvent.chain).distinct()) == LEGACY
    db.dispose()


def test_0009_on_an_empty_audit_log_leaves_no_legacy_chain(tmp_path):
    from sqlalchemy import text

    db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    db.migrate("0009_audit_chains")
    with db.engine.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM audit_head")).scalar_one() == 0
    from alembic import command

    command.downgrade(db.alembic_config(), "0008_conversations")  # the 0002 head row is back
    with db.engine.connect() as c:
        assert c.execute(text("SELECT id, seq FROM audit_head")).all() == [(1, 0)]
    db.dispose()

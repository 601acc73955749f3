"""Alembic migrations build the schema from an empty database, on SQLite and PostgreSQL."""

from __future__ import annotations

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
        c.execute(text("INSERT INTO schools (id, name, country, created_at) VALUES (900, 'Old', 'SE', :t)"), {"t": datetime.now(UTC)})
        c.execute(text("INSERT INTO users (id, school_id, username, password_hash, role, language, active, created_at) "
                       "VALUES (900, 900, 'old-user', 'x', 'student', 'en', :a, :t)"), {"a": True, "t": datetime.now(UTC)})
        c.execute(text("INSERT INTO api_tokens (user_id, token_hash, created_at, expires_at) VALUES (900, :h, :t, :e)"),
                  {"h": hashlib.sha256(token.encode()).hexdigest(), "t": datetime.now(UTC), "e": datetime.now(UTC) + timedelta(hours=1)})
    db.migrate()
    with db.session() as s:
        user = accounts.user_for_token(s, token)
        assert user is not None and user.username == "old-user"
        assert s.scalar(text("SELECT count(*) FROM sign_in_throttle")) == 0
    db.dispose()

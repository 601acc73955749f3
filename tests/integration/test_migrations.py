"""Alembic migrations build the schema from an empty database, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from app.db import Database
from app.models import Base


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

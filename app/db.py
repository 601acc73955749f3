"""Database engine, sessions and Alembic migrations (no ``create_all`` outside tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine, event
from sqlalchemy.engine import CursorResult, Engine, Result
from sqlalchemy.orm import Session, sessionmaker

from app.lexical import register_sqlite_functions

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    register_sqlite_functions(
        dbapi_connection
    )  # kateder_terms for the FTS5 triggers (migration 0006)


def rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE touched (``Session.execute`` is typed as returning a plain
    ``Result``)."""
    return cast(CursorResult[Any], result).rowcount


class Database:
    """Owns the engine and hands out sessions; one per process."""

    def __init__(self, url: str) -> None:
        """Create the engine for ``url`` (SQLite or PostgreSQL)."""
        self.url = url
        kwargs: dict = {"future": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=10)
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite database."""
        return self.url.startswith("sqlite")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        session = self.Session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def alembic_config(self) -> AlembicConfig:
        """Alembic configuration pointing at this database and the project's revisions."""
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        cfg.attributes["engine"] = self.engine
        return cfg

    def migrate(self, revision: str = "head") -> None:
        """Bring the schema up to ``revision`` (creates a new database from empty)."""
        command.upgrade(self.alembic_config(), revision)

    def compact(self) -> bool:
        """VACUUM an SQLite database and truncate its WAL, so deleted rows leave no readable pages
        (erasure).

        False for PostgreSQL, whose autovacuum reclaims the space (docs/gdpr.md).
        """
        if not self.is_sqlite:
            return False
        # pooled connections hold read snapshots that would keep old WAL frames
        self.engine.dispose()
        with self.engine.connect() as conn:
            raw = conn.connection.driver_connection
            raw.commit()
            old = raw.isolation_level
            raw.isolation_level = None
            try:
                raw.execute("VACUUM")
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.isolation_level = old
        return True

    def dispose(self) -> None:
        """Close all pooled connections."""
        self.engine.dispose()

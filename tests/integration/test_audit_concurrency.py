"""Concurrent writers, each on its own connection, never fork the audit chain."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from app.db import Database
from app.services.audit import AuditLog, Pseudonymizer, verify_chain
from core.models import AuditEvent

EVENTS_PER_WRITER = 4


def _hammer(url: str, writers: int) -> list[BaseException]:
    """Start ``writers`` threads with their own engine each; all wait at a barrier, then write."""
    log = AuditLog(Pseudonymizer(b"k" * 32))
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        db = Database(url)
        try:
            barrier.wait(timeout=60)
            for i in range(EVENTS_PER_WRITER):
                with db.session() as s:
                    log.record(s, "question", details={"writer": n, "i": i})
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return errors


def _check(url: str, writers: int) -> None:
    db = Database(url)
    with db.session() as s:
        report = verify_chain(s)
        seqs = list(s.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
        forks = s.scalar(select(func.count()).select_from(
            select(AuditEvent.prev_hash).group_by(AuditEvent.prev_hash).having(func.count() > 1).subquery()))
    db.dispose()
    assert report["ok"], report
    assert seqs == list(range(1, writers * EVENTS_PER_WRITER + 1))
    assert forks == 0


@pytest.mark.postgres
def test_thirty_concurrent_writers_on_postgresql(pg_url):
    errors = _hammer(pg_url, 30)
    assert not errors, errors[:3]
    _check(pg_url, 30)


def test_concurrent_writers_on_sqlite(sqlite_url):
    errors = _hammer(sqlite_url, 8)
    assert not errors, errors[:3]
    _check(sqlite_url, 8)

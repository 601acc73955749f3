"""Concurrent writers, each on its own connection, never fork an audit chain; different schools do
not wait for each other."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from app.db import Database
from app.services import accounts
from app.services.audit import INSTALLATION, AuditLog, Pseudonymizer, chain_key, verify_chain
from core.models import AuditEvent

EVENTS_PER_WRITER = 4


def _hammer(
    url: str, writers: int, schools: tuple[int | None, ...] = (None,)
) -> list[BaseException]:
    """Start ``writers`` threads per school with their own engine each; all wait at one barrier,
    then write."""
    log = AuditLog(Pseudonymizer(b"k" * 32))
    barrier = threading.Barrier(writers * len(schools))
    errors: list[BaseException] = []

    def work(n: int, school_id: int | None) -> None:
        db = Database(url)
        try:
            barrier.wait(timeout=60)
            for i in range(EVENTS_PER_WRITER):
                with db.session() as s:
                    log.record(s, "question", school_id=school_id, details={"writer": n, "i": i})
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            db.dispose()

    threads = [
        threading.Thread(target=work, args=(n, school))
        for school in schools
        for n in range(writers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a writer hung"
    return errors


def _check(url: str, writers: int, chain: str = INSTALLATION) -> None:
    """The chain is gap-free, has no two events with the same predecessor, and verifies on its
    own."""
    db = Database(url)
    with db.session() as s:
        report = verify_chain(s, chain=chain)
        seqs = list(
            s.scalars(
                select(AuditEvent.seq).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)
            )
        )
        forks = s.scalar(
            select(func.count()).select_from(
                select(AuditEvent.prev_hash)
                .where(AuditEvent.chain == chain)
                .group_by(AuditEvent.prev_hash)
                .having(func.count() > 1)
                .subquery()
            )
        )
    db.dispose()
    assert report["ok"], report
    assert seqs == list(range(1, writers * EVENTS_PER_WRITER + 1))
    assert forks == 0


def _two_schools(url: str) -> tuple[int, int]:
    db = Database(url)
    with db.session() as s:
        ids = (
            accounts.create_school(s, "North School").id,
            accounts.create_school(s, "South School").id,
        )
    db.dispose()
    return ids


@pytest.mark.postgres
def test_thirty_concurrent_writers_on_postgresql(pg_url):
    errors = _hammer(pg_url, 30)
    assert not errors, errors[:3]
    _check(pg_url, 30)


@pytest.mark.postgres
def test_a_school_appends_while_another_schools_writer_holds_its_chain_lock(pg_url):
    """While a writer of school A sits in an open transaction (A's head row locked), school B
    appends at once, and only a second writer of school A has to wait."""
    north, south = _two_schools(pg_url)
    log = AuditLog(Pseudonymizer(b"k" * 32))
    holder_db, other_db = Database(pg_url), Database(pg_url)
    try:
        for _ in range(
            2
        ):  # the first round creates both chains' head rows, the second appends to existing ones
            holder = holder_db.Session()
            log.record(
                holder, "question", school_id=north, details={"holder": True}
            )  # North's head row now locked
            with other_db.session() as s:
                s.execute(
                    text("SET LOCAL lock_timeout = '5s'")
                )  # a wait would fail the test, not hang it
                start = time.perf_counter()
                log.record(s, "question", school_id=south, details={"while_north_holds": True})
                waited = time.perf_counter() - start
            assert waited < 2.0, f"South waited {waited:.2f} s for North's lock"
            with pytest.raises(OperationalError, match="lock"), other_db.session() as s:
                s.execute(text("SET LOCAL lock_timeout = '300ms'"))
                log.record(s, "question", school_id=north, details={"second_north_writer": True})
            holder.commit()
            holder.close()
    finally:
        holder_db.dispose()
        other_db.dispose()
    db = Database(pg_url)
    with db.session() as s:
        for school in (north, south):
            report = verify_chain(s, school_id=school)
            assert report["ok"] and report["count"] == 2, report
    db.dispose()


@pytest.mark.postgres
def test_two_schools_append_in_parallel_on_postgresql_and_each_chain_verifies(pg_url):
    north, south = _two_schools(pg_url)
    errors = _hammer(pg_url, 15, (north, south))
    assert not errors, errors[:3]
    _check(pg_url, 15, chain_key(north))
    _check(pg_url, 15, chain_key(south))
    db = Database(pg_url)
    with db.session() as s:
        assert verify_chain(s)["ok"]
    db.dispose()


def test_concurrent_writers_on_sqlite(sqlite_url):
    errors = _hammer(sqlite_url, 8)
    assert not errors, errors[:3]
    _check(sqlite_url, 8)


def test_two_schools_concurrent_writers_on_sqlite(sqlite_url):
    """SQLite has one write lock for the whole file, so schools take turns; their chains stay apart
    and intact."""
    north, south = _two_schools(sqlite_url)
    errors = _hammer(sqlite_url, 4, (north, south))
    assert not errors, errors[:3]
    _check(sqlite_url, 4, chain_key(north))
    _check(sqlite_url, 4, chain_key(south))

"""The tamper-evident audit log: every event carries the hash of the one before it.

Writers serialise on the single ``audit_head`` row (row lock on PostgreSQL, the write
lock on SQLite), so concurrent writers never fork the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.models import AuditEvent, AuditHead, utcnow

GENESIS = "0" * 64


def canonical(event: dict[str, Any]) -> bytes:
    """The exact bytes that are hashed for an event."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def event_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the event body."""
    return hashlib.sha256(prev_hash.encode() + canonical(body)).hexdigest()


def event_body(seq: int, ts: datetime, subject, role, school_id, course_id, action, details) -> dict[str, Any]:
    """The hashed fields of an event, in one place for writer and verifier."""
    return {
        "seq": seq,
        "ts": (ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)).isoformat(),
        "subject": subject,
        "role": role,
        "school_id": school_id,
        "course_id": course_id,
        "action": action,
        "details": details,
    }


class Pseudonymizer:
    """Keyed HMAC of user ids; the key lives outside the database."""

    def __init__(self, key: bytes) -> None:
        """Use ``key`` (at least 32 bytes)."""
        self.key = key

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Pseudonymizer:
        """Key from ``PSEUDONYM_KEY`` (hex) or a 0600 file in the instance folder."""
        if config.get("PSEUDONYM_KEY"):
            return cls(bytes.fromhex(config["PSEUDONYM_KEY"]))
        path = Path(config["HOME"]) / "secrets" / "pseudonym.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        return cls(bytes.fromhex(path.read_text().strip()))

    def subject(self, user_id: int | None) -> str | None:
        """The pseudonymous subject id of a user."""
        if user_id is None:
            return None
        return hmac.new(self.key, f"user:{user_id}".encode(), hashlib.sha256).hexdigest()[:32]


class AuditLog:
    """Appends events to the hash chain."""

    def __init__(self, pseudonymizer: Pseudonymizer) -> None:
        """Pseudonymise subjects with ``pseudonymizer``."""
        self.pseudonymizer = pseudonymizer

    def record(
        self,
        session: Session,
        action: str,
        *,
        user=None,
        school_id: int | None = None,
        course_id: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Append one event within ``session``'s transaction (the caller commits)."""
        # take the chain lock first: an UPDATE locks the row (PostgreSQL) / the database (SQLite)
        locked = session.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
        if locked.rowcount == 0:
            session.add(AuditHead(id=1, seq=1, hash=GENESIS))
            session.flush()
        head = session.execute(select(AuditHead).where(AuditHead.id == 1).execution_options(populate_existing=True)).scalar_one()
        ts = utcnow()
        body = event_body(
            head.seq,
            ts,
            self.pseudonymizer.subject(user.id) if user is not None else None,
            user.role if user is not None else None,
            school_id if school_id is not None else (user.school_id if user is not None else None),
            course_id,
            action,
            json.loads(canonical(details or {})),
        )
        digest = event_hash(head.hash, body)
        event = AuditEvent(
            seq=head.seq,
            ts=ts,
            subject=body["subject"],
            role=body["role"],
            school_id=body["school_id"],
            course_id=course_id,
            action=action,
            details=body["details"],
            prev_hash=head.hash,
            hash=digest,
        )
        session.add(event)
        head.hash = digest
        session.flush()
        return event


def verify_chain(session: Session) -> dict[str, Any]:
    """Recompute the chain; report the first event that was altered, removed or inserted."""
    prev = GENESIS
    expected_seq = None
    count = 0
    for ev in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)):
        count += 1
        if expected_seq is not None and ev.seq != expected_seq:
            return {"ok": False, "count": count, "first_bad_seq": expected_seq, "problem": "missing event (removed)"}
        body = event_body(ev.seq, ev.ts, ev.subject, ev.role, ev.school_id, ev.course_id, ev.action, ev.details)
        if ev.prev_hash != prev:
            return {"ok": False, "count": count, "first_bad_seq": ev.seq, "problem": "chain link broken (removed or inserted before this event)"}
        if event_hash(prev, body) != ev.hash:
            return {"ok": False, "count": count, "first_bad_seq": ev.seq, "problem": "content altered"}
        prev = ev.hash
        expected_seq = ev.seq + 1
    head = session.get(AuditHead, 1)
    if head is not None and head.hash != prev:
        return {"ok": False, "count": count, "first_bad_seq": (expected_seq or 1), "problem": "events after the last one were removed"}
    return {"ok": True, "count": count, "head": prev}

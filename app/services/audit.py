"""The tamper-evident audit log: every event carries the hash of the one before it.

Writers serialise on the single ``audit_head`` row (row lock on PostgreSQL, the write
lock on SQLite), so concurrent writers never fork the chain.

An event's hash covers its skeleton (seq, UTC time, pseudonymous subject, role, school,
course, action) and the SHA-256 of its details, not the details themselves: retention can
later drop the details (``details_purged_at``) and the chain still verifies. Retention that
removes whole events leaves an :class:`~core.models.AuditCheckpoint` (the last removed
event's seq and hash) vouched for by a ``retention_purge`` event inside the chain. Heads
seen by ``verify``, exports and purges are appended to an anchor file outside the database,
so a chain re-computed wholesale by someone with database access no longer matches them.
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

from core.models import AuditCheckpoint, AuditEvent, AuditHead, utcnow

GENESIS = "0" * 64


def canonical(event: dict[str, Any]) -> bytes:
    """The exact bytes that are hashed for an event."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def details_digest(details: dict[str, Any] | None) -> str:
    """SHA-256 of an event's canonical details."""
    return hashlib.sha256(canonical(details or {})).hexdigest()


def event_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the event body."""
    return hashlib.sha256(prev_hash.encode() + canonical(body)).hexdigest()


def utc_iso(ts: datetime) -> str:
    """ISO 8601 in UTC (naive values from SQLite are UTC)."""
    return (ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)).isoformat()


def event_body(seq: int, ts: datetime, subject, role, school_id, course_id, action, details, digest: str | None = None) -> dict[str, Any]:
    """The hashed fields of an event, in one place for writer and verifier.

    With ``digest`` (every event since revision 0002_gdpr) the details enter the hash only
    through their SHA-256; without it (older events) the details themselves are hashed.
    """
    body = {
        "seq": seq,
        "ts": utc_iso(ts),
        "subject": subject,
        "role": role,
        "school_id": school_id,
        "course_id": course_id,
        "action": action,
    }
    if digest is None:
        body["details"] = details
    else:
        body["details_sha256"] = digest
    return body


def _secret_file(path: Path) -> bytes:
    """A 32-byte hex secret in a 0600 file, created on first use."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


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
        return cls(_secret_file(Path(config["HOME"]) / "secrets" / "pseudonym.key"))

    def subject(self, user_id: int | None) -> str | None:
        """The pseudonymous subject id of a user."""
        if user_id is None:
            return None
        return hmac.new(self.key, f"user:{user_id}".encode(), hashlib.sha256).hexdigest()[:32]


class AuditLog:
    """Appends events to the hash chain."""

    def __init__(self, pseudonymizer: Pseudonymizer, home: str | Path | None = None) -> None:
        """Pseudonymise subjects with ``pseudonymizer``; keep anchors under ``home``/audit."""
        self.pseudonymizer = pseudonymizer
        self.anchor_path = Path(home) / "audit" / "anchors.jsonl" if home is not None else None

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
        if locked.rowcount == 0:  # a database created before revision 0002_gdpr seeded the row
            session.add(AuditHead(id=1, seq=1, hash=GENESIS))
            session.flush()
        head = session.execute(select(AuditHead).where(AuditHead.id == 1).execution_options(populate_existing=True)).scalar_one()
        ts = utcnow()
        payload = json.loads(canonical(details or {}))
        digest = details_digest(payload)
        body = event_body(
            head.seq,
            ts,
            self.pseudonymizer.subject(user.id) if user is not None else None,
            user.role if user is not None else None,
            school_id if school_id is not None else (user.school_id if user is not None else None),
            course_id,
            action,
            payload,
            digest,
        )
        chained = event_hash(head.hash, body)
        event = AuditEvent(
            seq=head.seq,
            ts=ts,
            subject=body["subject"],
            role=body["role"],
            school_id=body["school_id"],
            course_id=course_id,
            action=action,
            details=payload,
            details_digest=digest,
            prev_hash=head.hash,
            hash=chained,
        )
        session.add(event)
        head.hash = chained
        session.flush()
        return event

    def anchor(self, session: Session) -> dict[str, Any] | None:
        """Append the current chain head to the anchor file outside the database."""
        if self.anchor_path is None:
            return None
        head = session.get(AuditHead, 1)
        if head is None or head.seq == 0:
            return None
        line = {"ts": utcnow().isoformat(), "seq": head.seq, "hash": head.hash}
        self.anchor_path.parent.mkdir(parents=True, exist_ok=True)
        with self.anchor_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")
        return line

    def anchors(self) -> list[dict[str, Any]]:
        """Heads recorded earlier (empty when there is no anchor file)."""
        if self.anchor_path is None or not self.anchor_path.exists():
            return []
        out = []
        for raw in self.anchor_path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(raw))
            except ValueError:
                continue
        return out


def _bad(count: int, seq: int, problem: str) -> dict[str, Any]:
    return {"ok": False, "count": count, "first_bad_seq": seq, "problem": problem}


def verify_chain(session: Session, anchors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Recompute the chain; report the first event that was altered, removed or inserted."""
    checkpoint = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)).first()
    prev = checkpoint.hash if checkpoint else GENESIS
    prev_prev = None
    expected_seq = checkpoint.seq + 1 if checkpoint else 1
    seen: dict[int, str] = {}
    vouched = checkpoint is None
    count = 0
    for ev in session.scalars(select(AuditEvent).order_by(AuditEvent.seq)):
        count += 1
        if ev.seq < expected_seq:
            return _bad(count, ev.seq, "event older than the retention checkpoint (inserted)")
        if ev.seq != expected_seq:
            return _bad(count, expected_seq, "missing event (removed)")
        if ev.prev_hash != prev:
            if prev_prev is not None and ev.prev_hash == prev_prev:
                return _bad(count, ev.seq - 1, "inserted event (the next event links past it)")
            if count > 1:
                return _bad(count, ev.seq - 1, "altered and re-hashed, or events after it removed and renumbered (the next link no longer matches)")
            return _bad(count, ev.seq, "chain link broken (events before this one removed or inserted)")
        if ev.details_digest is None:
            body = event_body(ev.seq, ev.ts, ev.subject, ev.role, ev.school_id, ev.course_id, ev.action, ev.details)
        else:
            if ev.details_purged_at is None and details_digest(ev.details) != ev.details_digest:
                return _bad(count, ev.seq, "content altered (details)")
            body = event_body(ev.seq, ev.ts, ev.subject, ev.role, ev.school_id, ev.course_id, ev.action, None, ev.details_digest)
        if event_hash(prev, body) != ev.hash:
            return _bad(count, ev.seq, "content altered")
        if not vouched and ev.action == "retention_purge" and (ev.details or {}).get("checkpoint", {}).get("seq") == checkpoint.seq \
                and ev.details["checkpoint"].get("hash") == checkpoint.hash:
            vouched = True
        seen[ev.seq] = ev.hash
        prev_prev, prev = prev, ev.hash
        expected_seq = ev.seq + 1
    head = session.get(AuditHead, 1)
    if head is not None and head.seq and head.hash != prev:
        if head.seq < expected_seq - 1:
            return _bad(count, head.seq + 1, "inserted event after the chain head")
        return _bad(count, expected_seq, "events after the last one were removed")
    if not vouched:
        return _bad(count, checkpoint.seq, "retention checkpoint not vouched for by a retention_purge event (events removed)")
    for anchor in anchors or ():
        seq = int(anchor.get("seq", 0))
        if checkpoint is not None and seq <= checkpoint.seq:
            continue
        if seq not in seen:
            return _bad(count, seq, f"event anchored at {anchor.get('ts')} is missing (removed)")
        if seen[seq] != anchor.get("hash"):
            return _bad(count, seq, f"chain rewritten: event {seq} no longer matches the head anchored at {anchor.get('ts')}")
    return {
        "ok": True,
        "count": count,
        "head": prev,
        "head_seq": expected_seq - 1,
        "checkpoint_seq": checkpoint.seq if checkpoint else None,
        "anchors_checked": len(anchors or ()),
    }


def event_to_dict(ev: AuditEvent) -> dict[str, Any]:
    """The pseudonymised JSON form of one event (export and DSAR)."""
    return {
        "seq": ev.seq,
        "ts": utc_iso(ev.ts),
        "subject": ev.subject,
        "role": ev.role,
        "school_id": ev.school_id,
        "course_id": ev.course_id,
        "action": ev.action,
        "details": ev.details if ev.details_purged_at is None else None,
        "details_sha256": ev.details_digest,
        "details_purged_at": utc_iso(ev.details_purged_at) if ev.details_purged_at else None,
        "prev_hash": ev.prev_hash,
        "hash": ev.hash,
    }

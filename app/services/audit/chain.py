"""Which chain an audit event belongs to and how it is hashed (docs/gdpr.md).

The rule the writer (``log``) and the verifier (``verify``) share: chain keys, the
canonical bytes of an event's body, its details digest and its hash, the hash a new chain
starts from, and the pseudonymised JSON form of a stored event (exports and DSARs).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.models import AuditEvent, AuditHead

GENESIS = "0" * 64
LEGACY = "legacy"  # the single chain written before revision 0009, frozen
INSTALLATION = "installation"  # events without a school
SCHOOL_PREFIX = "school:"


def chain_key(school_id: int | None) -> str:
    """The chain an event of ``school_id`` (None: no school) belongs to."""
    return INSTALLATION if school_id is None else f"{SCHOOL_PREFIX}{int(school_id)}"


def chain_school(chain: str) -> int | None:
    """The school of a chain key (None for the installation and legacy chains)."""
    return int(chain.removeprefix(SCHOOL_PREFIX)) if chain.startswith(SCHOOL_PREFIX) else None


def chain_order(chain: str) -> tuple[int, int]:
    """Legacy first, then the installation chain, then schools by id."""
    if chain == LEGACY:
        return (0, 0)
    if chain == INSTALLATION:
        return (1, 0)
    return (2, chain_school(chain) or 0) if chain.startswith(SCHOOL_PREFIX) else (3, 0)


def school_events(school_id: int) -> ColumnElement[bool]:
    """SQL condition for a school's events: its own chain and its events in the legacy chain."""
    return or_(
        AuditEvent.chain == chain_key(school_id),
        and_(AuditEvent.chain == LEGACY, AuditEvent.school_id == school_id),
    )


def canonical(event: dict[str, Any]) -> bytes:
    """The exact bytes that are hashed for an event."""
    return json.dumps(
        event, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def details_digest(details: dict[str, Any] | None) -> str:
    """SHA-256 of an event's canonical details."""
    return hashlib.sha256(canonical(details or {})).hexdigest()


def event_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and the event body."""
    return hashlib.sha256(prev_hash.encode() + canonical(body)).hexdigest()


def utc_iso(ts: datetime) -> str:
    """ISO 8601 in UTC (naive values from SQLite are UTC)."""
    return (ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)).isoformat()


def event_body(
    seq: int,
    ts: datetime,
    subject,
    role,
    school_id,
    course_id,
    action,
    details,
    digest: str | None = None,
    chain: str | None = None,
) -> dict[str, Any]:
    """The hashed fields of an event, in one place for writer and verifier.

    With ``digest`` (every event since revision 0002_gdpr) the details enter the hash only
    through their SHA-256; without it (older events) the details themselves are hashed. With
    ``chain`` (every event since revision 0009, i.e. all but the legacy chain) the chain key is
    hashed too, so an event moved to another chain no longer verifies.
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
    if chain is not None:
        body["chain"] = chain
    return body


def chain_start(session: Session) -> str:
    """The hash the first event of every post-0009 chain links to: the frozen legacy head, else
    GENESIS.
    """
    legacy = session.scalar(select(AuditHead.hash).where(AuditHead.chain == LEGACY))
    return legacy or GENESIS


def event_to_dict(ev: AuditEvent) -> dict[str, Any]:
    """The pseudonymised JSON form of one event (export and DSAR)."""
    return {
        "chain": ev.chain,
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

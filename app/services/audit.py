"""The tamper-evident audit log: one hash chain per school, each event carries the hash of the one before it.

Every school's events form their own chain (key ``school:<id>``) with their own head row and
sequence numbers; events without a school (system jobs, unknown accounts) go to the
``installation`` chain. Writers serialise only on their chain's ``audit_head`` row (row lock on
PostgreSQL, the database write lock on SQLite), so writers of one chain never fork it and
writers of different schools do not wait for each other on PostgreSQL.

The single chain of installations before revision 0009 is kept, frozen, as the ``legacy``
chain: it still verifies with the old rule, and the first event of every newer chain links to
the legacy head hash (or to ``GENESIS`` when there was no legacy chain), so the old chain's
state at the switch is committed to by every new chain.

An event's hash covers its skeleton (seq, UTC time, pseudonymous subject, role, school,
course, action, and its chain except in the legacy chain) and the SHA-256 of its details,
not the details themselves: retention can later drop the details (``details_purged_at``) and
the chain still verifies. Retention that removes whole events leaves an
:class:`~core.models.AuditCheckpoint` per chain (the last removed event's seq and hash)
vouched for by a ``retention_purge`` event inside that chain (for the frozen legacy chain:
inside the installation chain). Heads seen by ``verify``, exports and purges are appended,
with their chain, to an anchor file outside the database, so a chain re-computed wholesale
by someone with database access no longer matches them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.models import AuditCheckpoint, AuditEvent, AuditHead, Course, utcnow

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


def chain_start(session: Session) -> str:
    """The hash the first event of every post-0009 chain links to: the frozen legacy head, else GENESIS."""
    legacy = session.scalar(select(AuditHead.hash).where(AuditHead.chain == LEGACY))
    return legacy or GENESIS


class AuditLog:
    """Appends events to their school's hash chain."""

    def __init__(self, pseudonymizer: Pseudonymizer, home: str | Path | None = None) -> None:
        """Pseudonymise subjects with ``pseudonymizer``; keep anchors under ``home``/audit."""
        self.pseudonymizer = pseudonymizer
        self.anchor_path = Path(home) / "audit" / "anchors.jsonl" if home is not None else None

    @staticmethod
    def _advance(session: Session, chain: str) -> tuple[int, str] | None:
        """Lock the chain's head row and take the next seq: (new seq, previous hash), None without a head row."""
        # an UPDATE locks the row (PostgreSQL) / the database (SQLite) until the transaction ends
        stmt = (
            update(AuditHead)
            .where(AuditHead.chain == chain)
            .values(seq=AuditHead.seq + 1)
            .returning(AuditHead.seq, AuditHead.hash)
            .execution_options(synchronize_session=False)
        )
        row = session.execute(stmt).first()
        return (row[0], row[1]) if row is not None else None

    @staticmethod
    def _create_head(session: Session, chain: str) -> None:
        """Create a chain's head row (seq 0, linked to the legacy head); a concurrent creator wins quietly."""
        values = {"chain": chain, "seq": 0, "hash": chain_start(session)}
        dialect = session.get_bind().dialect.name
        # on PostgreSQL a second creator waits for the first one's commit, then does nothing
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as postgresql_insert

            session.execute(postgresql_insert(AuditHead).values(**values).on_conflict_do_nothing())
        elif dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            session.execute(sqlite_insert(AuditHead).values(**values).on_conflict_do_nothing())
        else:  # pragma: no cover - Kateder runs on SQLite and PostgreSQL
            session.execute(insert(AuditHead).values(**values))

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
        """Append one event to its school's chain within ``session``'s transaction (the caller commits).

        The school is ``school_id``, else the user's, else the course's; without one the event
        goes to the installation chain.
        """
        if school_id is None and user is not None:
            school_id = user.school_id
        if school_id is None and user is None and course_id is not None:
            school_id = session.scalar(select(Course.school_id).where(Course.id == course_id))
        chain = chain_key(school_id)
        # everything that does not depend on the chain's position is computed before its lock is taken
        payload = json.loads(canonical(details or {}))
        digest = details_digest(payload)
        subject = self.pseudonymizer.subject(user.id) if user is not None else None
        role = user.role if user is not None else None
        head = self._advance(session, chain)
        if head is None:  # the chain's first event
            self._create_head(session, chain)
            head = self._advance(session, chain)
            if (
                head is None
            ):  # pragma: no cover - the head row was just created (or a concurrent creator's)
                raise RuntimeError(f"audit chain {chain!r} has no head row")
        seq, prev_hash = head
        ts = utcnow()  # under the lock: times never go backwards within a chain
        body = event_body(
            seq, ts, subject, role, school_id, course_id, action, payload, digest, chain=chain
        )
        chained = event_hash(prev_hash, body)
        event = AuditEvent(
            chain=chain,
            seq=seq,
            ts=ts,
            subject=subject,
            role=role,
            school_id=school_id,
            course_id=course_id,
            action=action,
            details=payload,
            details_digest=digest,
            prev_hash=prev_hash,
            hash=chained,
        )
        session.add(event)
        session.flush()
        session.execute(
            update(AuditHead)
            .where(AuditHead.chain == chain)
            .values(hash=chained)
            .execution_options(synchronize_session=False)
        )
        return event

    def anchor(self, session: Session, chains: list[str] | None = None) -> list[dict[str, Any]]:
        """Append the heads of ``chains`` (default: every chain) to the anchor file outside the database."""
        if self.anchor_path is None:
            return []
        query = select(AuditHead).where(AuditHead.seq > 0)
        if chains is not None:
            query = query.where(AuditHead.chain.in_(chains))
        now = utcnow().isoformat()
        lines = [
            {"ts": now, "chain": head.chain, "seq": head.seq, "hash": head.hash}
            for head in sorted(session.scalars(query), key=lambda h: chain_order(h.chain))
        ]
        if lines:
            self.anchor_path.parent.mkdir(parents=True, exist_ok=True)
            with self.anchor_path.open("a", encoding="utf-8") as fh:
                fh.write("".join(json.dumps(line) + "\n" for line in lines))
        return lines

    def anchors(self, chain: str | None = None) -> list[dict[str, Any]]:
        """Heads recorded earlier, of one chain or all (lines from before 0009 name no chain: legacy)."""
        if self.anchor_path is None or not self.anchor_path.exists():
            return []
        out = []
        for raw in self.anchor_path.read_text(encoding="utf-8").splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if chain is None or line.get("chain", LEGACY) == chain:
                out.append(line)
        return out


def _bad(chain: str, count: int, seq: int, problem: str) -> dict[str, Any]:
    return {
        "ok": False,
        "chain": chain,
        "school_id": chain_school(chain),
        "count": count,
        "first_bad_seq": seq,
        "problem": problem,
    }


def _vouches(ev: AuditEvent, chain: str, checkpoint: AuditCheckpoint) -> bool:
    """True when ``ev`` is a retention_purge event naming ``checkpoint`` of ``chain``.

    In the checkpoint's own chain a ``checkpoint`` entry suffices (the form used before 0009
    and by school chains); the installation chain names the chain in ``checkpoints``.
    """
    if ev.action != "retention_purge" or ev.details_purged_at is not None:
        return False
    details = ev.details or {}
    named = [dict(c, chain=c.get("chain", ev.chain)) for c in details.get("checkpoints", ())]
    if isinstance(details.get("checkpoint"), dict):
        named.append(
            dict(details["checkpoint"], chain=details["checkpoint"].get("chain", ev.chain))
        )
    return any(
        c.get("chain") == chain
        and c.get("seq") == checkpoint.seq
        and c.get("hash") == checkpoint.hash
        for c in named
    )


def _check_head(
    head: AuditHead | None, last_hash: str, expected_seq: int
) -> tuple[int, str] | None:
    """(seq, problem) when the chain's head row disagrees with its last event, else None."""
    if head is not None and head.seq and head.hash != last_hash:
        if head.seq < expected_seq - 1:
            return head.seq + 1, "inserted event after the chain head"
        return expected_seq, "events after the last one were removed"
    if head is not None and head.seq > expected_seq - 1:
        return expected_seq, "events after the last one were removed"
    return None


def _check_anchors(
    anchors: list[dict[str, Any]], seen: dict[int, str], checkpoint: AuditCheckpoint | None
) -> tuple[int, str] | None:
    """(seq, problem) for the first anchored head the chain no longer has, else None."""
    for anchor in anchors:
        seq = int(anchor.get("seq", 0))
        if checkpoint is not None and seq <= checkpoint.seq:
            continue  # purged by retention, vouched for by the checkpoint
        if seq not in seen:
            return seq, f"event anchored at {anchor.get('ts')} is missing (removed)"
        if seen[seq] != anchor.get("hash"):
            return (
                seq,
                f"chain rewritten: event {seq} no longer matches the head anchored at {anchor.get('ts')}",
            )
    return None


def _verify_one(
    session: Session, chain: str, anchors: list[dict[str, Any]], start: str
) -> dict[str, Any]:
    """Recompute one chain; report the first event that was altered, removed or inserted."""
    legacy = chain == LEGACY
    school = chain_school(chain)
    checkpoint = session.scalars(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.chain == chain)
        .order_by(AuditCheckpoint.seq.desc())
        .limit(1)
    ).first()
    first_link = GENESIS if legacy else start
    prev = checkpoint.hash if checkpoint else first_link
    prev_prev = None
    expected_seq = checkpoint.seq + 1 if checkpoint else 1
    seen: dict[int, str] = {}
    vouched = checkpoint is None
    count = 0
    for ev in session.scalars(
        select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.seq)
    ).yield_per(1000):
        count += 1
        if ev.seq < expected_seq:
            return _bad(
                chain, count, ev.seq, "event older than the retention checkpoint (inserted)"
            )
        if ev.seq != expected_seq:
            return _bad(chain, count, expected_seq, "missing event (removed)")
        if ev.prev_hash != prev:
            if prev_prev is not None and ev.prev_hash == prev_prev:
                return _bad(
                    chain, count, ev.seq - 1, "inserted event (the next event links past it)"
                )
            if count > 1:
                return _bad(
                    chain,
                    count,
                    ev.seq - 1,
                    "altered and re-hashed, or events after it removed and renumbered (the next link no longer matches)",
                )
            if checkpoint is None and not legacy:
                return _bad(
                    chain,
                    count,
                    ev.seq,
                    "chain link broken (the first event does not link to the legacy head, "
                    "or events before it were removed or inserted)",
                )
            return _bad(
                chain,
                count,
                ev.seq,
                "chain link broken (events before this one removed or inserted)",
            )
        if not legacy and ev.school_id != school:
            return _bad(
                chain, count, ev.seq, "content altered (event of another school in this chain)"
            )
        if ev.details_digest is None:
            if not legacy:
                return _bad(chain, count, ev.seq, "content altered (details digest removed)")
            body = event_body(
                ev.seq,
                ev.ts,
                ev.subject,
                ev.role,
                ev.school_id,
                ev.course_id,
                ev.action,
                ev.details,
            )
        else:
            if ev.details_purged_at is None and details_digest(ev.details) != ev.details_digest:
                return _bad(chain, count, ev.seq, "content altered (details)")
            body = event_body(
                ev.seq,
                ev.ts,
                ev.subject,
                ev.role,
                ev.school_id,
                ev.course_id,
                ev.action,
                None,
                ev.details_digest,
                chain=None if legacy else chain,
            )
        if event_hash(prev, body) != ev.hash:
            return _bad(chain, count, ev.seq, "content altered")
        if not vouched and checkpoint is not None and _vouches(ev, chain, checkpoint):
            vouched = True
        seen[ev.seq] = ev.hash
        prev_prev, prev = prev, ev.hash
        expected_seq = ev.seq + 1
    if (
        problem := _check_head(
            session.scalar(select(AuditHead).where(AuditHead.chain == chain)), prev, expected_seq
        )
    ) is not None:
        return _bad(chain, count, *problem)
    vouched_by = chain if checkpoint is not None and vouched else None
    # not vouched: there is a checkpoint (without one a chain needs no vouching)
    if (
        not vouched and checkpoint is not None and legacy
    ):  # the frozen legacy chain's checkpoints are vouched for in the installation chain
        purges = select(AuditEvent).where(
            AuditEvent.chain == INSTALLATION, AuditEvent.action == "retention_purge"
        )
        if any(_vouches(ev, chain, checkpoint) for ev in session.scalars(purges)):
            witness = _verify_one(
                session, INSTALLATION, [a for a in anchors if a.get("chain") == INSTALLATION], start
            )
            if not witness["ok"]:
                return _bad(
                    chain,
                    count,
                    checkpoint.seq,
                    "retention checkpoint vouched for by an installation chain that "
                    f"does not verify ({witness['problem']})",
                )
            vouched, vouched_by = True, INSTALLATION
    if not vouched and checkpoint is not None:
        return _bad(
            chain,
            count,
            checkpoint.seq,
            "retention checkpoint not vouched for by a retention_purge event (events removed)",
        )
    mine = [a for a in anchors if a.get("chain", LEGACY) == chain]
    if (problem := _check_anchors(mine, seen, checkpoint)) is not None:
        return _bad(chain, count, *problem)
    report = {
        "ok": True,
        "chain": chain,
        "school_id": school,
        "count": count,
        "head": prev,
        "head_seq": expected_seq - 1,
        "checkpoint_seq": checkpoint.seq if checkpoint else None,
        "checkpoint_vouched_by": vouched_by,
        "anchors_checked": len(mine),
    }
    if not legacy:
        report["links_to"] = first_link
    return report


def chains(session: Session, anchors: list[dict[str, Any]] | None = None) -> list[str]:
    """Every chain that has a head, events, a checkpoint or an anchor, legacy first."""
    found = set(session.scalars(select(AuditHead.chain)))
    found |= set(session.scalars(select(AuditEvent.chain).distinct()))
    found |= set(session.scalars(select(AuditCheckpoint.chain).distinct()))
    found |= {a.get("chain", LEGACY) for a in anchors or ()}
    return sorted(found, key=chain_order)


def verify_chain(
    session: Session,
    anchors: list[dict[str, Any]] | None = None,
    *,
    school_id: int | None | Literal["all"] = "all",
    chain: str | None = None,
) -> dict[str, Any]:
    """Recompute one chain or all of them; report the first event that was altered, removed or inserted.

    ``school_id=N`` verifies school N's chain on its own, ``school_id=None`` the installation
    chain, ``chain=`` any chain by key (e.g. ``"legacy"``); the default verifies every chain
    and adds a ``chains`` map of per-chain reports (``ok`` only when all are intact).
    """
    anchors = list(anchors or ())
    start = chain_start(session)
    if chain is None and school_id != "all":
        chain = chain_key(school_id)
    if chain is not None:
        return _verify_one(session, chain, anchors, start)
    reports = {key: _verify_one(session, key, anchors, start) for key in chains(session, anchors)}
    summary: dict[str, Any] = {
        "ok": all(r["ok"] for r in reports.values()),
        "count": sum(r["count"] for r in reports.values()),
        "anchors_checked": sum(r.get("anchors_checked", 0) for r in reports.values()),
        "chains": reports,
    }
    bad = next((r for r in reports.values() if not r["ok"]), None)
    if bad is not None:
        summary.update(
            chain=bad["chain"],
            school_id=bad["school_id"],
            first_bad_seq=bad["first_bad_seq"],
            problem=bad["problem"],
        )
    return summary


def verify_school(
    session: Session, school_id: int, anchors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A school's chain, plus the legacy chain when the school has events there (its exports cover both).

    ``ok`` is true only when both verify; a broken legacy chain is reported with ``chain: "legacy"``.
    """
    report = verify_chain(session, anchors, school_id=school_id)
    has_legacy = session.scalar(
        select(AuditEvent.id)
        .where(AuditEvent.chain == LEGACY, AuditEvent.school_id == school_id)
        .limit(1)
    )
    if has_legacy is None:
        return report
    legacy = verify_chain(session, anchors, chain=LEGACY)
    report = {**report, "legacy": legacy}
    if report["ok"] and not legacy["ok"]:
        report.update(
            ok=False,
            first_bad_seq=legacy["first_bad_seq"],
            problem=f"legacy chain: {legacy['problem']}",
        )
    return report


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

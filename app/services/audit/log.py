"""Writing the audit log: pseudonymous subjects, events appended to their chain, anchors.

:class:`AuditLog` appends an event under its chain head's lock, so writers of one chain
never fork it, and appends the heads it is shown to an anchor file outside the database;
:class:`Pseudonymizer` turns user ids into keyed HMACs, the key kept outside the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from app.services.audit.chain import (
    LEGACY,
    canonical,
    chain_key,
    chain_order,
    chain_start,
    details_digest,
    event_body,
    event_hash,
)
from core.models import AuditEvent, AuditHead, Course, utcnow


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
    """Appends events to their school's hash chain."""

    def __init__(self, pseudonymizer: Pseudonymizer, home: str | Path | None = None) -> None:
        """Pseudonymise subjects with ``pseudonymizer``; keep anchors under ``home``/audit."""
        self.pseudonymizer = pseudonymizer
        self.anchor_path = Path(home) / "audit" / "anchors.jsonl" if home is not None else None

    @staticmethod
    def _advance(session: Session, chain: str) -> tuple[int, str] | None:
        """Lock the chain's head row and take the next seq: (new seq, previous hash), None without a
        head row.
        """
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
        """Create a chain's head row (seq 0, linked to the legacy head); a concurrent creator wins
        quietly.
        """
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
        """Append one event to its school's chain within ``session``'s transaction (the caller
        commits).

        The school is ``school_id``, else the user's, else the course's; without one the event
        goes to the installation chain.
        """
        if school_id is None and user is not None:
            school_id = user.school_id
        if school_id is None and user is None and course_id is not None:
            school_id = session.scalar(select(Course.school_id).where(Course.id == course_id))
        chain = chain_key(school_id)
        # everything that does not depend on the chain's position is computed before its lock is
        # taken
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
        """Append the heads of ``chains`` (default: every chain) to the anchor file outside the
        database.
        """
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
        """Heads recorded earlier, of one chain or all (lines from before 0009 name no chain:
        legacy).
        """
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

"""Retention per data category: configured defaults, DPO overrides, and the purge that enforces
them.

Categories and what a purge does to data older than the period:

- ``conversation_text``: the (sealed or plain) text of questions and answers is removed;
  the message skeleton (time, action, citations, verdicts) stays.
- ``conversations``: message rows, their guard verdicts and empty conversations are deleted.
- ``audit_details``: an audit event's details are dropped; its hash commits to their SHA-256,
  so the chain still verifies (``retention_purge`` events keep theirs: they vouch for checkpoints).
- ``audit_events``: whole events are deleted, per chain; a checkpoint keeps each chain's last
  removed event's seq and hash, and a ``retention_purge`` event written right after in that
  chain vouches for it (the installation chain's vouches for its own and the frozen legacy chain's).
- ``access_log``: admin access records with reasons, and handled data-subject requests.
- ``exports``: data-subject and audit export files left in the instance folder.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app.db import rowcount
from app.services.audit import chain_order, chain_school
from app.services.cascade import delete_with_dependents
from core.errors import UserError
from core.models import (
    AccessLog,
    ApiToken,
    AuditCheckpoint,
    AuditEvent,
    Conversation,
    DsarRequest,
    Message,
    RetentionSetting,
    utcnow,
)

# the EU AI Act (Art. 26(6)) asks deployers to keep automatically generated logs at least six months
AI_ACT_MIN_DAYS = 183


@dataclass(frozen=True)
class Category:
    """One data category with its config key and the shortest period allowed."""

    key: str
    config_key: str
    minimum: int
    description: str


CATEGORIES: tuple[Category, ...] = (
    Category(
        "conversation_text",
        "RETENTION_CONVERSATION_TEXT_DAYS",
        0,
        "Question and answer text (redacted, encrypted per student)",
    ),
    Category(
        "conversations",
        "RETENTION_CONVERSATIONS_DAYS",
        0,
        "Conversation and message records without text, guard verdicts",
    ),
    Category(
        "audit_details",
        "RETENTION_AUDIT_DETAILS_DAYS",
        AI_ACT_MIN_DAYS,
        "Audit event details: guard verdicts, passages, model, latencies",
    ),
    Category(
        "audit_events",
        "RETENTION_AUDIT_EVENTS_DAYS",
        AI_ACT_MIN_DAYS,
        "Audit event skeletons: time, pseudonymous subject, role, course, action, hash",
    ),
    Category(
        "access_log",
        "RETENTION_ACCESS_LOG_DAYS",
        AI_ACT_MIN_DAYS,
        "Admin access log with reasons; data-subject requests and receipts",
    ),
    Category(
        "exports",
        "RETENTION_EXPORTS_DAYS",
        0,
        "Export files (data-subject exports, audit exports) in the instance folder",
    ),
)
BY_KEY = {c.key: c for c in CATEGORIES}


class RetentionError(UserError):
    """A retention setting that is not allowed (400, ``retention_invalid``)."""

    code = "retention_invalid"


class Retention:
    """Retention settings and the purge, over the shared services."""

    def __init__(self, services) -> None:
        """Use the database, config and audit log of ``services``."""
        self.s = services

    def defaults(self) -> dict[str, int]:
        """Configured periods in days (code defaults or ``KATEDER_RETENTION_*``)."""
        return {c.key: int(self.s.config.get(c.config_key, 0)) for c in CATEGORIES}

    def settings(self, session: Session | None = None) -> dict[str, int]:
        """Effective periods in days: config, overridden by a DPO's settings in the database."""
        values = self.defaults()
        if session is None:
            with self.s.db.session() as s:
                return self.settings(s)
        for row in session.scalars(select(RetentionSetting)):
            if row.category in values:
                values[row.category] = row.days
        return values

    def table(self) -> list[dict[str, Any]]:
        """The retention table for the record of processing and the DPO panel."""
        values = self.settings()
        defaults = self.defaults()
        return [
            {
                "category": c.key,
                "description": c.description,
                "days": values[c.key],
                "default_days": defaults[c.key],
                "minimum_days": c.minimum,
            }
            for c in CATEGORIES
        ]

    def set(self, category: str, days: int, *, actor=None) -> dict[str, int]:
        """Change one category's period (audited); refuses periods below the legal minimum."""
        if category not in BY_KEY:
            raise RetentionError(
                f"unknown retention category {category!r}; choose one of {', '.join(BY_KEY)}"
            )
        days = int(days)
        minimum = BY_KEY[category].minimum
        if days < minimum:
            raise RetentionError(
                f"{category} must be kept at least {minimum} days (EU AI Act Art. 26(6))"
            )
        with self.s.db.session() as s:
            current = self.settings(s)
            proposed = {**current, category: days}
            if proposed["audit_events"] < proposed["audit_details"]:
                raise RetentionError("audit_events must be kept at least as long as audit_details")
            row = s.get(RetentionSetting, category)
            old = current[category]
            if row is None:
                s.add(
                    RetentionSetting(
                        category=category, days=days, updated_by=getattr(actor, "username", None)
                    )
                )
            else:
                row.days, row.updated_at, row.updated_by = (
                    days,
                    utcnow(),
                    getattr(actor, "username", None),
                )
            self.s.audit.record(
                s,
                "retention_change",
                user=actor,
                details={"category": category, "from_days": old, "to_days": days},
            )
            return {**current, category: days}

    def purge(self, now: datetime | None = None) -> dict[str, Any]:
        """Enforce every category's period; audited; the chain stays verifiable."""
        now = now or datetime.now(UTC)
        report: dict[str, Any] = {"ran_at": now.isoformat()}
        with self.s.db.session() as s:
            days = self.settings(s)
            report["days"] = days
            cutoff = {k: now - timedelta(days=v) for k, v in days.items()}
            report["conversation_text"] = s.execute(
                update(Message)
                .where(Message.created_at < cutoff["conversation_text"])
                .where((Message.text.is_not(None)) | (Message.text_encrypted.is_not(None)))
                .values(text=None, text_encrypted=None)
            ).rowcount
            report["conversations"] = self._purge_conversations(s, cutoff["conversations"])
            report["audit_details"] = s.execute(
                update(AuditEvent)
                .where(
                    AuditEvent.ts < cutoff["audit_details"], AuditEvent.details_purged_at.is_(None)
                )
                .where(
                    AuditEvent.details_digest.is_not(None), AuditEvent.action != "retention_purge"
                )
                .values(details={}, details_purged_at=now)
            ).rowcount
            checkpoints = self._purge_events(s, cutoff["audit_events"])
            report["audit_events"] = sum(c["events_removed"] for c in checkpoints)
            report["access_log"] = s.execute(
                delete(AccessLog).where(AccessLog.ts < cutoff["access_log"])
            ).rowcount
            report["dsar_requests"] = s.execute(
                delete(DsarRequest).where(DsarRequest.created_at < cutoff["access_log"])
            ).rowcount
            report["expired_tokens"] = s.execute(
                delete(ApiToken).where(ApiToken.expires_at < now)
            ).rowcount
            report["export_files"] = self._purge_exports(cutoff["exports"])
            details = {k: v for k, v in report.items() if k not in ("ran_at",)}
            # each school chain vouches for its own checkpoint, in chain order (writers lock one
            # chain each)
            for cp in checkpoints:
                if chain_school(cp["chain"]) is not None:
                    self.s.audit.record(
                        s,
                        "retention_purge",
                        school_id=chain_school(cp["chain"]),
                        details={"ran_at": report["ran_at"], "checkpoint": cp},
                    )
            if checkpoints:  # the installation chain vouches for its own and the legacy chain's
                details["checkpoints"] = [
                    cp for cp in checkpoints if chain_school(cp["chain"]) is None
                ]
            event = self.s.audit.record(s, "retention_purge", details=details)
            report["audit_seq"] = event.seq
            if checkpoints:
                report["checkpoints"] = checkpoints
        with self.s.db.session() as s:
            self.s.audit.anchor(s)
        return report

    @staticmethod
    def _purge_conversations(s: Session, cutoff: datetime) -> int:
        """Delete old messages (with their verdicts) and conversations left empty."""
        ids = list(s.scalars(select(Message.id).where(Message.created_at < cutoff)))
        removed = delete_with_dependents(s, Message.__table__, ids) if ids else 0
        has_messages = select(Message.id).where(Message.conversation_id == Conversation.id).exists()
        empty = list(
            s.scalars(
                select(Conversation.id).where(Conversation.created_at < cutoff, ~has_messages)
            )
        )
        if empty:
            removed += delete_with_dependents(s, Conversation.__table__, empty)
        return removed

    @staticmethod
    def _purge_events(s: Session, cutoff: datetime) -> list[dict[str, Any]]:
        """Delete events older than ``cutoff`` as a prefix of each chain, leaving a checkpoint per
        chain.
        """
        lasts = s.execute(
            select(AuditEvent.chain, func.max(AuditEvent.seq))
            .where(AuditEvent.ts < cutoff)
            .group_by(AuditEvent.chain)
        ).all()
        checkpoints = []
        for chain, last_seq in sorted(lasts, key=lambda row: chain_order(row[0])):
            # the event with the chain's highest old seq: there is one, it was just counted
            last = s.scalars(
                select(AuditEvent).where(AuditEvent.chain == chain, AuditEvent.seq == last_seq)
            ).one()
            removed = rowcount(
                s.execute(
                    delete(AuditEvent).where(AuditEvent.chain == chain, AuditEvent.seq <= last_seq)
                )
            )
            s.add(
                AuditCheckpoint(
                    chain=chain, seq=last.seq, hash=last.hash, ts=last.ts, events_removed=removed
                )
            )
            checkpoints.append(
                {"chain": chain, "seq": last.seq, "hash": last.hash, "events_removed": removed}
            )
        s.flush()
        return checkpoints

    def _purge_exports(self, cutoff: datetime) -> int:
        """Delete export files and folders older than ``cutoff`` from ``<HOME>/exports``."""
        root = Path(self.s.config["HOME"]) / "exports"
        if not root.is_dir():
            return 0
        removed = 0
        for path in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if not path.exists():
                continue
            mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            if path.is_file() and mtime < cutoff:
                path.unlink()
                removed += 1
            elif path.is_dir() and not any(path.iterdir()):
                shutil.rmtree(path, ignore_errors=True)
        return removed

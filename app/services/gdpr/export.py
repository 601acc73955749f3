"""The right of access and portability (Art. 15, 20): everything held about one user, as data and as
a page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services.audit import event_to_dict, utc_iso
from app.services.gdpr.keys import MessageTexts
from app.services.gdpr.messages import message
from app.services.gdpr.records import (
    access_dict,
    actor_details,
    dsar_dict,
    message_dict,
    resolve_user,
)
from app.services.i18n import school_language
from app.services.retention import Retention
from app.services.subject_report import render_subject_html
from core.models import (
    AccessLog,
    AuditEvent,
    Conversation,
    Course,
    Document,
    DsarRequest,
    School,
    User,
    utcnow,
)

if TYPE_CHECKING:
    from app.services import Services


@dataclass(frozen=True)
class ExportResult:
    """Where a data-subject export was written."""

    request_id: int
    subject: str
    directory: Path
    json_path: Path
    html_path: Path
    counts: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the CLI and the DPO panel."""
        return {
            "request_id": self.request_id,
            "subject": self.subject,
            "directory": str(self.directory),
            "json": str(self.json_path),
            "html": str(self.html_path),
            "counts": self.counts,
        }


class Export:
    """Writes a data-subject export (``data.json`` and a readable ``index.html``) and records the
    request.
    """

    def __init__(self, services: Services, texts: MessageTexts) -> None:
        """Use the database, audit log and settings of ``services``; read message text through
        ``texts``.
        """
        self.s = services
        self.texts = texts
        self.home = Path(services.config["HOME"])

    def export_subject(
        self,
        user_ref: str | int,
        out_dir: str | Path | None = None,
        *,
        handled_by: str = "cli",
        actor_id: int | None = None,
    ) -> ExportResult:
        """Write everything held about one user as ``data.json`` plus a readable ``index.html``.

        ``actor_id`` is the officer who asked for it (recorded apart from the data subject).
        """
        with self.s.db.session() as s:
            user = resolve_user(s, user_ref)
            data = self.collect(s, user)
            school = s.get(School, user.school_id)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            base = Path(out_dir) if out_dir else self.home / "exports" / "dsar"
            directory = base / f"dsar-{data['subject'][:12]}-{stamp}"
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            json_path, html_path = directory / "data.json", directory / "index.html"
            json_path.write_text(
                json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
            )
            html_path.write_text(
                render_subject_html(data, school_language(school.country if school else None)),
                encoding="utf-8",
            )
            counts = {
                "conversations": len(data["conversations"]),
                "messages": sum(len(c["messages"]) for c in data["conversations"]),
                "audit_events": len(data["audit_events"]),
                "access_log": len(data["access_log"]),
                "uploads": len(data["uploads"]),
            }
            request = DsarRequest(
                kind="export",
                subject=data["subject"],
                user_id=user.id,
                handled_by=handled_by,
                status="done",
                completed_at=utcnow(),
                receipt={"directory": str(directory.resolve()), "counts": counts},
            )
            s.add(request)
            s.flush()
            actor = actor_details(
                s,
                self.s.audit.pseudonymizer.subject,
                actor_id=actor_id,
                handled_by=handled_by,
                subject=data["subject"],
            )
            self.s.audit.record(
                s,
                "dsar_export",
                user=user,
                details={
                    "request_id": request.id,
                    "handled_by": handled_by,
                    "counts": counts,
                    **actor,
                },
            )
            return ExportResult(
                request.id, data["subject"], directory, json_path, html_path, counts
            )

    def collect(self, s: Session, user: User) -> dict[str, Any]:
        """The data-subject export's content."""
        subject = self.s.audit.pseudonymizer.subject(user.id)
        school = s.get(School, user.school_id)
        courses = {
            c.id: c for c in s.scalars(select(Course).where(Course.school_id == user.school_id))
        }
        enrolments = [
            {
                "course": courses[e.course_id].code if e.course_id in courses else e.course_id,
                "title": courses[e.course_id].title if e.course_id in courses else None,
                "role": e.role,
                "since": utc_iso(e.created_at),
            }
            for e in user.enrolments
        ]
        uploads = [
            {
                "id": d.id,
                "course_id": d.course_id,
                "filename": d.filename,
                "title": d.title,
                "size_bytes": d.size_bytes,
                "version": d.version,
                "status": d.status,
                "created_at": utc_iso(d.created_at),
            }
            for d in s.scalars(select(Document).where(Document.uploaded_by == user.id))
        ]
        events = [
            event_to_dict(e)
            for e in s.scalars(
                select(AuditEvent).where(AuditEvent.subject == subject).order_by(AuditEvent.id)
            )
        ]
        access = [
            access_dict(s, a)
            for a in s.scalars(
                select(AccessLog).where(AccessLog.subject == subject).order_by(AccessLog.ts)
            )
        ]
        requests = [
            dsar_dict(r)
            for r in s.scalars(
                select(DsarRequest).where(DsarRequest.subject == subject).order_by(DsarRequest.id)
            )
        ]
        return {
            "generated_at": datetime.now(UTC).isoformat(),
            "controller": self.s.config.get("CONTROLLER_NAME") or (school.name if school else ""),
            "dpo_contact": (school.dpo_contact if school else None)
            or self.s.config.get("DPO_CONTACT", ""),
            "subject": subject,
            "language": user.language,
            "account": {
                "id": user.id,
                "username": user.username,
                "display_name": user.display_name,
                "role": user.role,
                "language": user.language,
                "active": user.active,
                "school": school.name if school else None,
                "created_at": utc_iso(user.created_at),
            },
            "enrolments": enrolments,
            "conversations": self._conversations(s, user, courses),
            "uploads": uploads,
            "audit_events": events,
            "access_log": access,
            "requests": requests,
            "retention_days": Retention(self.s).settings(s),
        }

    def _conversations(
        self, s: Session, user: User, courses: dict[int, Course]
    ) -> list[dict[str, Any]]:
        """The user's conversations with every message (erased text marked as such)."""
        erased = message("text_erased", user.language)
        conversations = []
        for conv in s.scalars(
            select(Conversation).where(Conversation.user_id == user.id).order_by(Conversation.id)
        ):
            course = courses.get(conv.course_id)
            conversations.append(
                {
                    "id": conv.id,
                    "course": course.code if course else conv.course_id,
                    "course_title": course.title if course else None,
                    "created_at": utc_iso(conv.created_at),
                    "messages": [
                        message_dict(s, self.texts, m, owner_id=user.id, erased=erased)
                        for m in conv.messages
                    ],
                }
            )
        return conversations

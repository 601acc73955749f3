"""Access with a reason: a teacher, admin or DPO opens a student's data only after writing
down why.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services.gdpr.keys import MessageTexts
from app.services.gdpr.messages import AccessDenied, ReasonRequired, SubjectNotFound, message
from app.services.gdpr.records import access_dict, dsar_dict, message_dict
from core.models import AccessLog, Conversation, DsarRequest, Enrolment, User, utcnow

if TYPE_CHECKING:
    from app.services import Services

MIN_REASON_CHARS = 10


class Access:
    """The access log: every look at a student's data is recorded (and audited) before it
    is shown.
    """

    def __init__(self, services: Services, texts: MessageTexts) -> None:
        """Use the database and audit log of ``services``; read message text through ``texts``."""
        self.s = services
        self.texts = texts

    def _subject(self, user_id: int | None) -> str | None:
        return self.s.audit.pseudonymizer.subject(user_id)

    def log_access(
        self,
        session: Session,
        actor: User,
        student: User,
        reason: str,
        *,
        course_id: int | None = None,
        conversation_id: int | None = None,
        language: str | None = None,
    ) -> AccessLog:
        """Record that ``actor`` looked at ``student``'s data and why (access log + audit event)."""
        reason = (reason or "").strip()
        if len(reason) < MIN_REASON_CHARS:
            raise ReasonRequired(
                message("reason_required", language or actor.language, n=MIN_REASON_CHARS)
            )
        if not _may_see(session, actor, student, course_id):
            raise AccessDenied(message("not_allowed", language or actor.language))
        subject = self._subject(student.id)
        entry = AccessLog(
            ts=utcnow(),
            actor_id=actor.id,
            actor_role=actor.role,
            actor_subject=self._subject(actor.id),
            student_id=student.id,
            subject=subject,
            course_id=course_id,
            conversation_id=conversation_id,
            reason=reason,
        )
        session.add(entry)
        session.flush()
        event = self.s.audit.record(
            session,
            "admin_view",
            user=actor,
            course_id=course_id,
            details={
                "access_id": entry.id,
                "student": subject,
                "conversation_id": conversation_id,
                "reason": reason,
            },
        )
        entry.audit_seq = event.seq
        return entry

    def open_conversation(
        self, actor_id: int, conversation_id: int, reason: str, language: str | None = None
    ) -> dict[str, Any]:
        """A teacher, admin or DPO opens a student's conversation; the reason is logged first."""
        with self.s.db.session() as s:
            actor = s.get(User, actor_id)
            conversation = s.get(Conversation, conversation_id)
            if actor is None or conversation is None:
                raise SubjectNotFound(message("no_conversation", language))
            student = s.get(User, conversation.user_id)
            assert student is not None  # a conversation's user is deleted with it (erasure)
            entry = self.log_access(
                s,
                actor,
                student,
                reason,
                course_id=conversation.course_id,
                conversation_id=conversation.id,
                language=language,
            )
            erased = message("text_erased", language or actor.language)
            messages = [
                message_dict(s, self.texts, m, owner_id=student.id, erased=erased)
                for m in conversation.messages
            ]
            return {
                "conversation_id": conversation.id,
                "course_id": conversation.course_id,
                "student": entry.subject,
                "access_id": entry.id,
                "reason": entry.reason,
                "messages": messages,
            }

    def access_log(
        self,
        school_id: int | None = None,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Who opened which student's data, when and why (newest first), for the DPO panel and
        export.
        """
        with self.s.db.session() as s:
            q = select(AccessLog).order_by(AccessLog.ts.desc()).limit(limit)
            if since is not None:
                q = q.where(AccessLog.ts >= since)
            if until is not None:
                q = q.where(AccessLog.ts < until)
            if school_id is not None:
                actors = select(User.id).where(User.school_id == school_id)
                q = q.where(AccessLog.actor_id.in_(actors))
            return [access_dict(s, a) for a in s.scalars(q)]

    def dsar_requests(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Data-subject requests handled (newest first)."""
        with self.s.db.session() as s:
            q = select(DsarRequest).order_by(DsarRequest.created_at.desc())
            if since is not None:
                q = q.where(DsarRequest.created_at >= since)
            if until is not None:
                q = q.where(DsarRequest.created_at < until)
            return [dsar_dict(r) for r in s.scalars(q)]


def _may_see(session: Session, actor: User, student: User, course_id: int | None) -> bool:
    """Staff of the student's school; a teacher only for a course they teach (the given one, or any
    of the student's).
    """
    allowed = actor.role in ("teacher", "admin", "dpo") and actor.school_id == student.school_id
    if allowed and actor.role == "teacher":
        courses = (
            {course_id}
            if course_id
            else set(
                session.scalars(select(Enrolment.course_id).where(Enrolment.user_id == student.id))
            )
        )
        taught = set(
            session.scalars(
                select(Enrolment.course_id).where(
                    Enrolment.user_id == actor.id, Enrolment.role == "teacher"
                )
            )
        )
        allowed = bool(courses & taught)
    return allowed

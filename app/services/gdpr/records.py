"""The JSON forms of stored rows that the access log, the export and the DPO panel share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.services.audit import utc_iso
from app.services.gdpr.keys import MessageTexts
from app.services.gdpr.messages import SubjectNotFound, message
from core.models import AccessLog, DsarRequest, Message, User

Pseudonym = Callable[
    [int | None], str | None
]  # a user id -> the audit log's subject (AuditLog.pseudonymizer.subject)


def resolve_user(session: Session, ref: str | int) -> User:
    """A user by numeric id or username (:class:`SubjectNotFound` if there is none)."""
    user = None
    text = str(ref).strip()
    if text.isdigit():
        user = session.get(User, int(text))
    if user is None:
        user = session.scalar(select(User).where(User.username == text))
    if user is None:
        raise SubjectNotFound(message("no_user", ref=repr(text)))
    return user


def message_dict(
    s: Session, texts: MessageTexts, m: Message, *, owner_id: int, erased: str
) -> dict[str, Any]:
    """One message with its verdicts; its text as its owner wrote it, ``erased`` once the key is
    gone.
    """
    text = texts.read(s, m, owner_id)
    kept = m.text is not None or m.text_encrypted is not None
    return {
        "id": m.id,
        "role": m.role,
        "created_at": utc_iso(m.created_at),
        "language": m.language,
        "action": m.action,
        "text": text if text is not None else (erased if kept else None),
        "text_status": "plain"
        if m.text is not None
        else ("encrypted" if text is not None else ("shredded" if kept else "not kept")),
        "citations": m.citations,
        "feedback": m.feedback,
        "verdicts": [
            {
                "stage": v.stage,
                "safe": v.safe,
                "action": v.action,
                "categories": v.categories,
                "score": v.score,
                "backend": v.backend,
                "model": v.model,
            }
            for v in m.verdicts
        ],
    }


def access_dict(s: Session, a: AccessLog) -> dict[str, Any]:
    """One access-log entry: who opened whose data, when and why."""
    actor = s.get(User, a.actor_id) if a.actor_id else None
    return {
        "id": a.id,
        "ts": utc_iso(a.ts),
        "actor_role": a.actor_role,
        "actor_subject": a.actor_subject,
        "actor": (actor.display_name or actor.username) if actor else None,
        "student": a.subject,
        "course_id": a.course_id,
        "conversation_id": a.conversation_id,
        "reason": a.reason,
        "audit_seq": a.audit_seq,
    }


def dsar_dict(r: DsarRequest) -> dict[str, Any]:
    """One data-subject request with its receipt (without the export's directory on the server)."""
    receipt = dict(r.receipt or {})
    receipt.pop("directory", None)
    return {
        "id": r.id,
        "kind": r.kind,
        "subject": r.subject,
        "handled_by": r.handled_by,
        "status": r.status,
        "created_at": utc_iso(r.created_at),
        "completed_at": utc_iso(r.completed_at) if r.completed_at else None,
        "receipt": receipt,
    }


def actor_details(
    s: Session, pseudonym: Pseudonym, *, actor_id: int | None, handled_by: str, subject: str | None
) -> dict[str, Any]:
    """Who handled a data-subject request, apart from whose data it was (the event's own
    subject).
    """
    actor = s.get(User, actor_id) if actor_id is not None else None
    role = actor.role if actor is not None else ("operator" if handled_by == "cli" else None)
    return {
        "actor": pseudonym(actor.id) if actor is not None else None,
        "actor_role": role,
        "data_subject": subject,
    }

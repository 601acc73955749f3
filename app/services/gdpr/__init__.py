"""Data-subject rights: per-student keys, sealed message text, export, erasure, access with a
reason.

One concept per module; :class:`Gdpr` is the facade the rest of the app uses
(``services.gdpr``), and this package re-exports the names it has always had:

* ``keys``: envelope keys (:class:`KeyRing`), sealing and opening message text
  (:class:`MessageTexts`)
* ``access``: opening a student's data with a written reason, the access log, the requests handled
* ``export``: the data-subject export (``data.json`` plus the page of
  ``app/services/subject_report.py``)
* ``erasure``: crypto-shredding and deletion in named steps, storage compaction (now or as a job)
* ``records``: the JSON forms of stored rows those share; ``messages``: what they tell the user,
  their errors

Erasure destroys the data key first (crypto-shredding: copies in backups become
unreadable), then deletes the rows, vectors and files; the audit events stay as
pseudonymous skeletons (docs/gdpr.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from app.services.gdpr.access import MIN_REASON_CHARS, Access
from app.services.gdpr.erasure import COMPACT_KIND, Erasure
from app.services.gdpr.export import Export, ExportResult
from app.services.gdpr.keys import SEALED_VERSION, TEXT_STORAGE, KeyRing, MessageTexts
from app.services.gdpr.messages import (
    AccessDenied,
    GdprError,
    ReasonRequired,
    SubjectNotFound,
    message,
)
from app.services.gdpr.records import resolve_user
from core.models import AccessLog, Message, User
from ingest.reindex import compact_collection

if TYPE_CHECKING:
    from app.services import Services

__all__ = [
    "COMPACT_KIND",
    "MIN_REASON_CHARS",
    "SEALED_VERSION",
    "TEXT_STORAGE",
    "AccessDenied",
    "ExportResult",
    "Gdpr",
    "GdprError",
    "KeyRing",
    "MessageTexts",
    "ReasonRequired",
    "SubjectNotFound",
    "compact_collection",
    "message",
]


class Gdpr:
    """The data-protection use cases over the shared services."""

    def __init__(self, services: Services) -> None:
        """Use the database, audit log, ingest pipeline and vector store of ``services``."""
        self.s = services
        self.keys = KeyRing.from_config(services.config)
        self.texts = MessageTexts(
            self.keys, services.config.get("MESSAGE_TEXT_STORAGE", "encrypted")
        )
        self.storage = self.texts.storage
        self.home = Path(services.config["HOME"])
        self.access = Access(services, self.texts)
        self.export = Export(services, self.texts)
        self.erasure = Erasure(services, self.keys)

    # -- message text ------------------------------------------------------------------
    def text_fields(self, session: Session, user_id: int, text: str | None) -> dict[str, Any]:
        """``Message`` columns for one text: redacted, then sealed, plain or dropped per policy."""
        return self.texts.fields(session, user_id, text)

    def read_text(self, session: Session, msg: Message, owner_id: int | None = None) -> str | None:
        """A message's text for its owner's own view or a logged access; None if erased or never
        kept.
        """
        return self.texts.read(session, msg, owner_id)

    def subject(self, user_id: int | None) -> str | None:
        """The pseudonymous subject id used in the audit log."""
        return self.s.audit.pseudonymizer.subject(user_id)

    resolve_user = staticmethod(resolve_user)

    # -- access with a reason ----------------------------------------------------------
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
        return self.access.log_access(
            session,
            actor,
            student,
            reason,
            course_id=course_id,
            conversation_id=conversation_id,
            language=language,
        )

    def open_conversation(
        self, actor_id: int, conversation_id: int, reason: str, language: str | None = None
    ) -> dict[str, Any]:
        """A teacher, admin or DPO opens a student's conversation; the reason is logged first."""
        return self.access.open_conversation(actor_id, conversation_id, reason, language)

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
        return self.access.access_log(school_id, since=since, until=until, limit=limit)

    def dsar_requests(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Data-subject requests handled (newest first)."""
        return self.access.dsar_requests(since=since, until=until)

    # -- right of access and portability (Art. 15, 20) ---------------------------------
    def export_subject(
        self,
        user_ref: str | int,
        out_dir: str | Path | None = None,
        *,
        handled_by: str = "cli",
        actor_id: int | None = None,
    ) -> ExportResult:
        """Write everything held about one user as ``data.json`` plus a readable ``index.html``."""
        return self.export.export_subject(
            user_ref, out_dir, handled_by=handled_by, actor_id=actor_id
        )

    # -- right to erasure (Art. 17) ----------------------------------------------------
    def erase_subject(
        self,
        user_ref: str | int,
        *,
        handled_by: str = "cli",
        queue_compaction: bool = False,
        actor_id: int | None = None,
    ) -> dict[str, Any]:
        """Crypto-shred and delete everything held about one user; return the receipt
        (``erasure.py``).
        """
        return self.erasure.erase_subject(
            user_ref, handled_by=handled_by, queue_compaction=queue_compaction, actor_id=actor_id
        )

    def compact_task(
        self, course_id: int | None, payload: dict[str, Any], progress: Callable[[str, float], None]
    ) -> dict[str, Any]:
        """The background job of a queued compaction (:data:`COMPACT_KIND`): rebuild one course's
        vectors.
        """
        return self.erasure.compact_task(course_id, payload, progress)

    def compaction_jobs(self, school_id: int | None, limit: int = 20) -> list[dict[str, Any]]:
        """The latest compaction jobs of the school's courses, newest first (the DPO panel's
        status).
        """
        return self.erasure.compaction_jobs(school_id, limit)

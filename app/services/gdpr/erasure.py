"""The right to erasure (Art. 17): crypto-shred, then delete rows, files and vectors, then compact
storage.

``Erasure.erase_subject`` is six named steps over one frozen :class:`Subject`; each step
adds its figures to the receipt, which is stored with the request and its audit event
(the pseudonymous skeleton of the subject's earlier events stays).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from app.services import accounts
from app.services.cascade import delete_with_dependents
from app.services.gdpr.keys import KeyRing
from app.services.gdpr.records import actor_details, resolve_user
from core.models import (
    AccessLog,
    AuditEvent,
    Conversation,
    Course,
    Document,
    DsarRequest,
    GuardVerdict,
    Job,
    Message,
    User,
    utcnow,
)
from ingest.jobs import job_dict
from ingest.reindex import compact_collection
from ingest.store import MaterialChanged

if TYPE_CHECKING:
    from app.services import Services

COMPACT_KIND = (
    "compact_vectors"  # the background job that rebuilds a course's vectors after an erasure
)
Receipt = dict[str, Any]


@dataclass(frozen=True)
class Subject:
    """The person being erased, as read before anything is deleted."""

    user_id: int
    username: str
    role: str
    school_id: int
    subject: str | None  # the audit log's pseudonym

    @property
    def student(self) -> bool:
        """A student's uploads are deleted with them; staff uploads are school material and stay."""
        return self.role == "student"


class Erasure:
    """Erases one data subject; compacts storage (now, or as a queued job) so no deleted text stays
    readable.
    """

    def __init__(self, services: Services, keys: KeyRing) -> None:
        """Use every store of ``services`` (database, files, vectors, jobs) and the key ring."""
        self.s = services
        self.keys = keys
        self.home = Path(services.config["HOME"])

    def erase_subject(
        self,
        user_ref: str | int,
        *,
        handled_by: str = "cli",
        queue_compaction: bool = False,
        actor_id: int | None = None,
    ) -> Receipt:
        """Crypto-shred and delete everything held about one user; return the receipt.

        The rebuild of the touched courses' vector collections (step 5) can take minutes on a
        large course: with ``queue_compaction`` (the DPO panel) it is queued as a background
        job (``vector_compaction_jobs`` in the receipt; ``kateder worker`` or the web
        process's job thread runs it) instead of running in the caller.
        """
        who, receipt = self._shred_key(
            user_ref
        )  # 1. from this commit on no copy of the text can be read
        courses = self._erase_uploads(who, receipt)  # 2. uploads and upload jobs
        old_exports = self._erase_rows(
            who, receipt
        )  # 3. conversations, tokens, enrolments, the account
        receipt["export_files_deleted"] = self._erase_export_files(
            old_exports
        )  # 4. earlier exports' files
        self._compact(
            courses, receipt, queue=queue_compaction
        )  # 5. no deleted text left in free pages or logs
        self._record(
            who, receipt, handled_by=handled_by, actor_id=actor_id
        )  # 6. the request and its audit event
        return receipt

    def _shred_key(self, user_ref: str | int) -> tuple[Subject, Receipt]:
        """Destroy the user's data key, then rotate the master key so backups cannot unwrap it
        either.
        """
        with self.s.db.session() as s:
            user = resolve_user(s, user_ref)
            who = Subject(
                user_id=user.id,
                username=user.username,
                role=user.role,
                school_id=user.school_id,
                subject=self.s.audit.pseudonymizer.subject(user.id),
            )
            key_destroyed = self.keys.destroy(s, who.user_id)
        receipt: Receipt = {
            "subject": who.subject,
            "user_id": who.user_id,
            "username": who.username,
            "role": who.role,
            "key_destroyed": key_destroyed,
        }
        receipt["master_key_rotated"] = (
            self.keys.rotate(self.s.db) is not None if key_destroyed else False
        )
        return who, receipt

    def _erase_uploads(self, who: Subject, receipt: Receipt) -> set[int]:
        """A student's documents go with their passages, vectors and originals (staff ones are
        de-attributed); the courses touched.
        """
        with self.s.db.session() as s:
            docs = s.execute(
                select(Document.id, Document.course_id).where(Document.uploaded_by == who.user_id)
            ).all()
        courses: set[int] = set()
        if who.student:
            for doc_id, course_id in docs:
                self.s.ingest.delete_document(doc_id)
                courses.add(course_id)
        receipt["documents_deleted"] = len(docs) if who.student else 0
        receipt["documents_unattributed"] = 0 if who.student else len(docs)
        receipt["upload_jobs"] = self._erase_upload_jobs(who.user_id, remove=who.student)
        return courses

    def _erase_upload_jobs(self, uid: int, *, remove: bool) -> int:
        """Queued or failed upload jobs of the user: dropped with their stored original (or
        de-attributed).
        """
        digests: list[str] = []
        count = 0
        with self.s.db.session() as s:
            for job in s.scalars(select(Job)):
                payload = dict(job.payload or {})
                if payload.get("uploaded_by") != uid:
                    continue
                count += 1
                if remove:
                    digests.append(str(payload.get("digest") or ""))
                    s.delete(job)
                else:
                    payload["uploaded_by"] = None
                    job.payload = payload
        for digest in filter(None, digests):
            with self.s.db.session() as s:
                in_use = s.scalar(
                    select(Document.id).where(Document.content_hash == digest).limit(1)
                )
            if in_use is None:
                self.s.files.delete(digest)
        return count

    def _erase_rows(self, who: Subject, receipt: Receipt) -> list[DsarRequest]:
        """Delete the account with its dependents; unlink access-log entries and earlier requests
        (returned).
        """
        uid = who.user_id
        with self.s.db.session() as s:
            conv_ids = list(s.scalars(select(Conversation.id).where(Conversation.user_id == uid)))
            msg_ids = (
                list(s.scalars(select(Message.id).where(Message.conversation_id.in_(conv_ids))))
                if conv_ids
                else []
            )
            receipt["conversations"] = len(conv_ids)
            receipt["messages"] = len(msg_ids)
            receipt["guard_verdicts"] = (
                len(
                    list(
                        s.scalars(
                            select(GuardVerdict.id).where(GuardVerdict.message_id.in_(msg_ids))
                        )
                    )
                )
                if msg_ids
                else 0
            )
            receipt["rows_deleted"] = delete_with_dependents(s, User.__table__, [uid])
            accounts.forget_sign_in_failures(
                s, accounts.Throttle(pepper=self.s.audit.pseudonymizer.key), who.username
            )
            s.execute(update(AccessLog).where(AccessLog.student_id == uid).values(student_id=None))
            s.execute(update(AccessLog).where(AccessLog.actor_id == uid).values(actor_id=None))
            old_exports = list(s.scalars(select(DsarRequest).where(DsarRequest.user_id == uid)))
            for r in old_exports:
                r.user_id = None
        return old_exports

    def _erase_export_files(self, old_exports: list[DsarRequest]) -> int:
        """Earlier data-subject exports kept in the instance folder; how many files were removed."""
        removed = 0
        for r in old_exports:
            directory = Path(r.receipt.get("directory", "")) if r.receipt else None
            if directory and directory.is_dir() and _inside(directory, self.home):
                removed += sum(1 for p in directory.rglob("*") if p.is_file())
                shutil.rmtree(directory, ignore_errors=True)
        return removed

    def _compact(self, courses: set[int], receipt: Receipt, *, queue: bool) -> None:
        """Rebuild the touched courses' vectors (or queue it) and VACUUM an SQLite database."""
        receipt["vector_collections_compacted"], postponed = [], []
        if queue:
            receipt["vector_compaction_jobs"] = [
                self.s.jobs.enqueue_task(COMPACT_KIND, course_id, {"reason": "erasure"})["id"]
                for course_id in sorted(courses)
            ]
        for course_id in [] if queue else sorted(courses):
            try:
                if compact_collection(self.s.vector_store, course_id, db=self.s.db):
                    receipt["vector_collections_compacted"].append(course_id)
            except (
                MaterialChanged
            ):  # an upload meanwhile: the course stays as it is, compaction is not done
                postponed.append(course_id)
        if postponed:
            receipt["vector_collections_not_compacted"] = postponed
        receipt["database_compacted"] = self.s.db.compact()

    def _record(
        self, who: Subject, receipt: Receipt, *, handled_by: str, actor_id: int | None
    ) -> None:
        """Store the request (its receipt without the name and id) and audit it."""
        with self.s.db.session() as s:
            receipt["audit_events_kept"] = len(
                list(s.scalars(select(AuditEvent.id).where(AuditEvent.subject == who.subject)))
            )
            receipt["erased_at"] = datetime.now(UTC).isoformat()
            stored = {k: v for k, v in receipt.items() if k not in ("username", "user_id")}
            request = DsarRequest(
                kind="erase",
                subject=who.subject,
                user_id=None,
                handled_by=handled_by,
                status="done",
                completed_at=utcnow(),
                receipt=stored,
            )
            s.add(request)
            s.flush()
            person = SimpleNamespace(id=who.user_id, role=who.role, school_id=who.school_id)
            actor = actor_details(
                s,
                self.s.audit.pseudonymizer.subject,
                actor_id=actor_id,
                handled_by=handled_by,
                subject=who.subject,
            )
            event = self.s.audit.record(
                s,
                "erasure",
                user=person,
                details={"request_id": request.id, "handled_by": handled_by, **stored, **actor},
            )
            receipt["request_id"] = request.id
            receipt["audit_seq"] = event.seq

    # -- compaction as a background job ---------------------------------------------
    def compact_task(
        self, course_id: int | None, payload: dict[str, Any], progress: Callable[[str, float], None]
    ) -> dict[str, Any]:
        """The background job of a queued compaction (:data:`COMPACT_KIND`): rebuild one course's
        vectors.
        """
        if course_id is None:
            raise ValueError("a compaction job names the course it compacts")
        store = self.s.vector_store
        total = max(1, store.count(course_id)) if hasattr(store, "count") else 1
        progress("compacting", 0.0)
        done = compact_collection(
            store,
            course_id,
            db=self.s.db,
            progress=lambda copied: progress("compacting", min(0.99, copied / total)),
        )
        return {"compacted": done, "course_id": course_id}

    def compaction_jobs(self, school_id: int | None, limit: int = 20) -> list[dict[str, Any]]:
        """The latest compaction jobs of the school's courses, newest first (the DPO panel's
        status).
        """
        with self.s.db.session() as s:
            rows = s.execute(
                select(Job, Course.code)
                .join(Course, Course.id == Job.course_id)
                .where(Job.kind == COMPACT_KIND, Course.school_id == school_id)
                .order_by(Job.id.desc())
                .limit(limit)
            ).all()
            return [{**job_dict(job), "course_code": code} for job, code in rows]


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False

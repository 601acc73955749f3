"""Data-subject rights: per-student keys, sealed message text, export, erasure, access with a reason.

Each user's question and answer text is redacted of personal identifiers and sealed with
AES-256-GCM under that user's own data key. The data key is stored only wrapped (AES-GCM)
by a master key kept outside the database (``KATEDER_MASTER_KEY`` or
``<HOME>/secrets/master.key``). Erasure destroys the data key first (crypto-shredding:
copies in backups become unreadable), then deletes the rows, vectors and files; the audit
events stay as pseudonymous skeletons.
"""

from __future__ import annotations

import html
import json
import os
import secrets
import shutil
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.services import accounts
from app.services.audit import _secret_file, event_to_dict, utc_iso
from app.services.cascade import delete_with_dependents
from app.services.retention import Retention
from core.models import (
    AccessLog,
    AuditEvent,
    Conversation,
    Course,
    Document,
    DsarRequest,
    Enrolment,
    GuardVerdict,
    Job,
    Message,
    School,
    SubjectKey,
    User,
    utcnow,
)
from guard.pii import redact
from guard.policy import language_code
from ingest.jobs import job_dict
from ingest.store import MaterialChanged

SEALED_VERSION = b"\x01"
COMPACT_KIND = "compact_vectors"  # the background job that rebuilds a course's vectors after an erasure
TEXT_STORAGE = ("encrypted", "plain", "none")
MIN_REASON_CHARS = 10

_MESSAGES: dict[str, dict[str, str]] = {
    "reason_required": {
        "en": "Write down why you need to open this student's conversation (at least {n} characters).",
        "sv": "Skriv varför du behöver öppna elevens konversation (minst {n} tecken).",
        "de": "Schreibe auf, warum du das Gespräch dieser Schülerin / dieses Schülers öffnen musst (mindestens {n} Zeichen).",
        "it": "Scrivi perché devi aprire la conversazione di questo studente (almeno {n} caratteri).",
        "nb": "Skriv hvorfor du må åpne elevens samtale (minst {n} tegn).",
    },
    "not_allowed": {
        "en": "You may not open this conversation.",
        "sv": "Du får inte öppna den här konversationen.",
        "de": "Du darfst dieses Gespräch nicht öffnen.",
        "it": "Non puoi aprire questa conversazione.",
        "nb": "Du har ikke tilgang til denne samtalen.",
    },
    "no_conversation": {
        "en": "There is no such conversation.",
        "sv": "Konversationen finns inte.",
        "de": "Dieses Gespräch gibt es nicht.",
        "it": "Questa conversazione non esiste.",
        "nb": "Samtalen finnes ikke.",
    },
    "no_user": {
        "en": "There is no user {ref}.",
        "sv": "Det finns ingen användare {ref}.",
        "de": "Es gibt keinen Benutzer {ref}.",
        "it": "Non esiste l'utente {ref}.",
        "nb": "Det finnes ingen bruker {ref}.",
    },
    "text_erased": {
        "en": "[text erased]",
        "sv": "[texten raderad]",
        "de": "[Text gelöscht]",
        "it": "[testo cancellato]",
        "nb": "[teksten slettet]",
    },
}

# headings of the student's readable export (index.html), per language
_EXPORT_LABELS: dict[str, dict[str, str]] = {
    "en": {"title": "Your data in Kateder", "intro": "This is everything the school's course assistant holds about you, as of {ts} (UTC).",
           "account": "Your account", "courses": "Your courses", "conversations": "Your conversations", "uploads": "Files you uploaded",
           "access": "Who opened your conversations, and why", "events": "Log entries about you", "requests": "Your requests",
           "retention": "How long we keep your data", "none": "None.", "days": "days", "you": "You", "assistant": "Assistant"},
    "sv": {"title": "Dina uppgifter i Kateder", "intro": "Det här är allt som skolans kursassistent har sparat om dig, per {ts} (UTC).",
           "account": "Ditt konto", "courses": "Dina kurser", "conversations": "Dina konversationer", "uploads": "Filer du har laddat upp",
           "access": "Vem som öppnat dina konversationer och varför", "events": "Loggposter om dig", "requests": "Dina begäranden",
           "retention": "Hur länge vi sparar dina uppgifter", "none": "Inga.", "days": "dagar", "you": "Du", "assistant": "Assistenten"},
    "de": {"title": "Deine Daten in Kateder", "intro": "Das ist alles, was der Kursassistent der Schule über dich gespeichert hat, Stand {ts} (UTC).",
           "account": "Dein Konto", "courses": "Deine Kurse", "conversations": "Deine Gespräche", "uploads": "Von dir hochgeladene Dateien",
           "access": "Wer deine Gespräche geöffnet hat und warum", "events": "Protokolleinträge über dich", "requests": "Deine Anträge",
           "retention": "Wie lange wir deine Daten aufbewahren", "none": "Keine.", "days": "Tage", "you": "Du", "assistant": "Assistent"},
    "it": {"title": "I tuoi dati in Kateder", "intro": "Ecco tutto ciò che l'assistente dei corsi della scuola conserva su di te, al {ts} (UTC).",
           "account": "Il tuo account", "courses": "I tuoi corsi", "conversations": "Le tue conversazioni", "uploads": "File che hai caricato",
           "access": "Chi ha aperto le tue conversazioni e perché", "events": "Voci del registro su di te", "requests": "Le tue richieste",
           "retention": "Per quanto tempo conserviamo i tuoi dati", "none": "Nessuno.", "days": "giorni", "you": "Tu", "assistant": "Assistente"},
    "nb": {"title": "Dine data i Kateder", "intro": "Dette er alt skolens kursassistent har lagret om deg, per {ts} (UTC).",
           "account": "Kontoen din", "courses": "Kursene dine", "conversations": "Samtalene dine", "uploads": "Filer du har lastet opp",
           "access": "Hvem som har åpnet samtalene dine, og hvorfor", "events": "Loggoppføringer om deg", "requests": "Forespørslene dine",
           "retention": "Hvor lenge vi lagrer dataene dine", "none": "Ingen.", "days": "dager", "you": "Du", "assistant": "Assistenten"},
}


def message(key: str, language: str | None = "en", **values: Any) -> str:
    """A user-facing message of this module in the user's language."""
    table = _MESSAGES[key]
    return table.get(language_code(language), table["en"]).format(**values)


class GdprError(Exception):
    """A user-facing problem with a data-protection operation, with an HTTP status."""

    status = 400
    code = "bad_request"

    def __init__(self, message_text: str) -> None:
        """Keep the user-facing message."""
        super().__init__(message_text)
        self.message = message_text


class ReasonRequired(GdprError):
    """Opening a student's conversation needs a written reason."""

    code = "reason_required"


class AccessDenied(GdprError):
    """The actor may not see this student's data."""

    status, code = 403, "forbidden"


class SubjectNotFound(GdprError):
    """No such user or conversation."""

    status, code = 404, "not_found"


class KeyRing:
    """Per-user AES-256-GCM data keys, stored wrapped by a master key outside the database.

    A file-backed master key can be rotated (:meth:`rotate`): every data key is re-wrapped
    and the old master key is overwritten, so database backups taken before the rotation
    can no longer be unwrapped. Erasure rotates, which makes its crypto-shredding reach
    backups too. Other processes notice the new key file by its modification time.
    """

    def __init__(self, master_key: bytes | None = None, *, path: Path | None = None) -> None:
        """Use a fixed ``master_key`` (32 bytes), or the key file at ``path``."""
        if master_key is not None and len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes (64 hex characters)")
        self.path = path
        self._static = AESGCM(master_key) if master_key is not None else None
        self._loaded: tuple[tuple[float, float], list[AESGCM]] | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config) -> KeyRing:
        """Master key from ``MASTER_KEY`` (hex) or ``<HOME>/secrets/master.key`` (0600)."""
        if config.get("MASTER_KEY"):
            return cls(bytes.fromhex(config["MASTER_KEY"]))
        path = Path(config["HOME"]) / "secrets" / "master.key"
        _secret_file(path)
        return cls(path=path)

    @property
    def rotatable(self) -> bool:
        """True when the master key lives in a file this process may replace."""
        return self.path is not None

    def _masters(self) -> list[AESGCM]:
        """Master keys to try, the one to wrap new keys with first (a rotation's next key, if any)."""
        if self._static is not None:
            return [self._static]
        nxt = self.path.with_name(self.path.name + ".next")
        stamp = (self.path.stat().st_mtime, nxt.stat().st_mtime if nxt.exists() else 0.0)
        with self._lock:
            if self._loaded is None or self._loaded[0] != stamp:
                keys = [AESGCM(bytes.fromhex(p.read_text().strip())) for p in (nxt, self.path) if p.exists()]
                self._loaded = (stamp, keys)
            return self._loaded[1]

    @staticmethod
    def _aad(kind: str, user_id: int) -> bytes:
        return f"kateder:{kind}:{int(user_id)}".encode()

    def _wrap(self, user_id: int, key: bytes, master: AESGCM | None = None) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + (master or self._masters()[0]).encrypt(nonce, key, self._aad("subject-key", user_id))

    def _unwrap(self, user_id: int, blob: bytes, masters: list[AESGCM] | None = None) -> bytes:
        for master in masters or self._masters():
            try:
                return master.decrypt(blob[:12], blob[12:], self._aad("subject-key", user_id))
            except InvalidTag:
                continue
        raise InvalidTag()

    def data_key(self, session: Session, user_id: int, *, create: bool = True) -> bytes | None:
        """The user's data key; a new one on first use, None once destroyed (and not ``create``)."""
        row = session.get(SubjectKey, user_id)
        if row is None:
            if not create:
                return None
            try:
                with session.begin_nested():
                    session.add(SubjectKey(user_id=user_id, wrapped_key=self._wrap(user_id, AESGCM.generate_key(bit_length=256))))
            except IntegrityError:  # another writer created it at the same moment
                pass
            row = session.get(SubjectKey, user_id, populate_existing=True)
        return self._unwrap(user_id, bytes(row.wrapped_key))

    def seal(self, session: Session, user_id: int, text: str) -> bytes:
        """Encrypt ``text`` under the user's data key."""
        key = self.data_key(session, user_id)
        nonce = secrets.token_bytes(12)
        return SEALED_VERSION + nonce + AESGCM(key).encrypt(nonce, text.encode("utf-8"), self._aad("message", user_id))

    def open(self, session: Session, user_id: int, blob: bytes) -> str | None:
        """Decrypt a sealed text; None when the key was destroyed (erased) or the data is not ours."""
        blob = bytes(blob)
        try:
            key = self.data_key(session, user_id, create=False)
            if key is None or not blob.startswith(SEALED_VERSION):
                return None
            return AESGCM(key).decrypt(blob[1:13], blob[13:], self._aad("message", user_id)).decode("utf-8")
        except InvalidTag:
            return None

    def destroy(self, session: Session, user_id: int) -> bool:
        """Delete the user's data key (crypto-shredding); True if there was one."""
        return session.execute(delete(SubjectKey).where(SubjectKey.user_id == user_id)).rowcount > 0

    def rotate(self, db) -> int | None:
        """Re-wrap every data key under a new master key and overwrite the old one; None if not file-backed."""
        if self.path is None:
            return None
        old = self._masters()
        nxt = self.path.with_name(self.path.name + ".next")
        nxt.unlink(missing_ok=True)
        new = AESGCM(_secret_file(nxt))  # from now on every process wraps new keys with it
        everything = [new, *old]
        rewrapped = 0
        for _ in range(2):  # a second pass catches keys another process added during the first
            with db.session() as s:
                for row in s.scalars(select(SubjectKey)):
                    blob = bytes(row.wrapped_key)
                    try:
                        new.decrypt(blob[:12], blob[12:], self._aad("subject-key", row.user_id))
                        continue
                    except InvalidTag:
                        pass
                    row.wrapped_key = self._wrap(row.user_id, self._unwrap(row.user_id, blob, everything), new)
                    rewrapped += 1
        os.replace(nxt, self.path)  # the old master key is gone
        return rewrapped


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
        return {"request_id": self.request_id, "subject": self.subject, "directory": str(self.directory),
                "json": str(self.json_path), "html": str(self.html_path), "counts": self.counts}


class Gdpr:
    """The data-protection use cases over the shared services."""

    def __init__(self, services) -> None:
        """Use the database, audit log, ingest pipeline and vector store of ``services``."""
        self.s = services
        self.keys = KeyRing.from_config(services.config)
        self.storage = services.config.get("MESSAGE_TEXT_STORAGE", "encrypted")
        if self.storage not in TEXT_STORAGE:
            raise ValueError(f"MESSAGE_TEXT_STORAGE must be one of {', '.join(TEXT_STORAGE)}, not {self.storage!r}")
        self.home = Path(services.config["HOME"])

    # -- message text ------------------------------------------------------------------
    def text_fields(self, session: Session, user_id: int, text: str | None) -> dict[str, Any]:
        """``Message`` columns for one text: redacted, then sealed, plain or dropped per policy."""
        if text is None or self.storage == "none":
            return {"text": None, "text_encrypted": None}
        clean, _ = redact(text)
        if self.storage == "plain":
            return {"text": clean, "text_encrypted": None}
        return {"text": None, "text_encrypted": self.keys.seal(session, user_id, clean)}

    def read_text(self, session: Session, msg: Message, owner_id: int | None = None) -> str | None:
        """A message's text for its owner's own view or a logged access; None if erased or never kept."""
        if msg.text is not None:
            return msg.text
        if msg.text_encrypted is None:
            return None
        if owner_id is None:
            owner_id = session.scalar(select(Conversation.user_id).where(Conversation.id == msg.conversation_id))
        return None if owner_id is None else self.keys.open(session, owner_id, msg.text_encrypted)

    # -- helpers ---------------------------------------------------------------------
    def subject(self, user_id: int | None) -> str | None:
        """The pseudonymous subject id used in the audit log."""
        return self.s.audit.pseudonymizer.subject(user_id)

    @staticmethod
    def resolve_user(session: Session, ref: str | int) -> User:
        """A user by numeric id or username."""
        user = None
        text = str(ref).strip()
        if text.isdigit():
            user = session.get(User, int(text))
        if user is None:
            user = session.scalar(select(User).where(User.username == text))
        if user is None:
            raise SubjectNotFound(message("no_user", ref=repr(text)))
        return user

    # -- access with a reason --------------------------------------------------------
    def log_access(self, session: Session, actor: User, student: User, reason: str, *, course_id: int | None = None,
                   conversation_id: int | None = None, language: str | None = None) -> AccessLog:
        """Record that ``actor`` looked at ``student``'s data and why (access log + audit event)."""
        reason = (reason or "").strip()
        if len(reason) < MIN_REASON_CHARS:
            raise ReasonRequired(message("reason_required", language or actor.language, n=MIN_REASON_CHARS))
        allowed = actor.role in ("teacher", "admin", "dpo") and actor.school_id == student.school_id
        if allowed and actor.role == "teacher":
            courses = {course_id} if course_id else set(session.scalars(select(Enrolment.course_id).where(Enrolment.user_id == student.id)))
            taught = set(session.scalars(select(Enrolment.course_id).where(Enrolment.user_id == actor.id, Enrolment.role == "teacher")))
            allowed = bool(courses & taught)
        if not allowed:
            raise AccessDenied(message("not_allowed", language or actor.language))
        subject = self.subject(student.id)
        entry = AccessLog(
            ts=utcnow(), actor_id=actor.id, actor_role=actor.role, actor_subject=self.subject(actor.id),
            student_id=student.id, subject=subject, course_id=course_id, conversation_id=conversation_id, reason=reason,
        )
        session.add(entry)
        session.flush()
        event = self.s.audit.record(
            session, "admin_view", user=actor, course_id=course_id,
            details={"access_id": entry.id, "student": subject, "conversation_id": conversation_id, "reason": reason},
        )
        entry.audit_seq = event.seq
        return entry

    def open_conversation(self, actor_id: int, conversation_id: int, reason: str, language: str | None = None) -> dict[str, Any]:
        """A teacher, admin or DPO opens a student's conversation; the reason is logged first."""
        with self.s.db.session() as s:
            actor = s.get(User, actor_id)
            conversation = s.get(Conversation, conversation_id)
            if actor is None or conversation is None:
                raise SubjectNotFound(message("no_conversation", language))
            student = s.get(User, conversation.user_id)
            entry = self.log_access(s, actor, student, reason, course_id=conversation.course_id,
                                    conversation_id=conversation.id, language=language)
            erased = message("text_erased", language or actor.language)
            messages = [self._message_dict(s, m, student.id, erased) for m in conversation.messages]
            return {"conversation_id": conversation.id, "course_id": conversation.course_id, "student": entry.subject,
                    "access_id": entry.id, "reason": entry.reason, "messages": messages}

    def access_log(self, school_id: int | None = None, *, since: datetime | None = None, until: datetime | None = None,
                   limit: int = 1000) -> list[dict[str, Any]]:
        """Who opened which student's data, when and why (newest first), for the DPO panel and export."""
        with self.s.db.session() as s:
            q = select(AccessLog).order_by(AccessLog.ts.desc()).limit(limit)
            if since is not None:
                q = q.where(AccessLog.ts >= since)
            if until is not None:
                q = q.where(AccessLog.ts < until)
            if school_id is not None:
                actors = select(User.id).where(User.school_id == school_id)
                q = q.where(AccessLog.actor_id.in_(actors))
            return [self._access_dict(s, a) for a in s.scalars(q)]

    def dsar_requests(self, *, since: datetime | None = None, until: datetime | None = None) -> list[dict[str, Any]]:
        """Data-subject requests handled (newest first)."""
        with self.s.db.session() as s:
            q = select(DsarRequest).order_by(DsarRequest.created_at.desc())
            if since is not None:
                q = q.where(DsarRequest.created_at >= since)
            if until is not None:
                q = q.where(DsarRequest.created_at < until)
            return [_dsar_dict(r) for r in s.scalars(q)]

    # -- right of access and portability (Art. 15, 20) ------------------------------
    def export_subject(self, user_ref: str | int, out_dir: str | Path | None = None, *, handled_by: str = "cli") -> ExportResult:
        """Write everything held about one user as ``data.json`` plus a readable ``index.html``."""
        with self.s.db.session() as s:
            user = self.resolve_user(s, user_ref)
            data = self._collect(s, user)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            base = Path(out_dir) if out_dir else self.home / "exports" / "dsar"
            directory = base / f"dsar-{data['subject'][:12]}-{stamp}"
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            json_path, html_path = directory / "data.json", directory / "index.html"
            json_path.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
            html_path.write_text(render_subject_html(data), encoding="utf-8")
            counts = {"conversations": len(data["conversations"]), "messages": sum(len(c["messages"]) for c in data["conversations"]),
                      "audit_events": len(data["audit_events"]), "access_log": len(data["access_log"]), "uploads": len(data["uploads"])}
            request = DsarRequest(kind="export", subject=data["subject"], user_id=user.id, handled_by=handled_by, status="done",
                                  completed_at=utcnow(), receipt={"directory": str(directory.resolve()), "counts": counts})
            s.add(request)
            s.flush()
            self.s.audit.record(s, "dsar_export", user=user, details={"request_id": request.id, "handled_by": handled_by, "counts": counts})
            return ExportResult(request.id, data["subject"], directory, json_path, html_path, counts)

    def _collect(self, s: Session, user: User) -> dict[str, Any]:
        """The data-subject export's content."""
        subject = self.subject(user.id)
        school = s.get(School, user.school_id)
        erased = message("text_erased", user.language)
        courses = {c.id: c for c in s.scalars(select(Course).where(Course.school_id == user.school_id))}
        conversations = []
        for conv in s.scalars(select(Conversation).where(Conversation.user_id == user.id).order_by(Conversation.id)):
            course = courses.get(conv.course_id)
            conversations.append({
                "id": conv.id, "course": course.code if course else conv.course_id, "course_title": course.title if course else None,
                "created_at": utc_iso(conv.created_at),
                "messages": [self._message_dict(s, m, user.id, erased) for m in conv.messages],
            })
        enrolments = [{"course": courses[e.course_id].code if e.course_id in courses else e.course_id,
                       "title": courses[e.course_id].title if e.course_id in courses else None, "role": e.role,
                       "since": utc_iso(e.created_at)} for e in user.enrolments]
        uploads = [{"id": d.id, "course_id": d.course_id, "filename": d.filename, "title": d.title, "size_bytes": d.size_bytes,
                    "version": d.version, "status": d.status, "created_at": utc_iso(d.created_at)}
                   for d in s.scalars(select(Document).where(Document.uploaded_by == user.id))]
        events = [event_to_dict(e) for e in s.scalars(select(AuditEvent).where(AuditEvent.subject == subject).order_by(AuditEvent.seq))]
        access = [self._access_dict(s, a) for a in s.scalars(select(AccessLog).where(AccessLog.subject == subject).order_by(AccessLog.ts))]
        requests = [_dsar_dict(r) for r in s.scalars(select(DsarRequest).where(DsarRequest.subject == subject).order_by(DsarRequest.id))]
        return {
            "generated_at": datetime.now(UTC).isoformat(),
            "controller": self.s.config.get("CONTROLLER_NAME") or (school.name if school else ""),
            "dpo_contact": self.s.config.get("DPO_CONTACT", ""),
            "subject": subject,
            "language": user.language,
            "account": {"id": user.id, "username": user.username, "display_name": user.display_name, "role": user.role,
                        "language": user.language, "active": user.active, "school": school.name if school else None,
                        "created_at": utc_iso(user.created_at)},
            "enrolments": enrolments,
            "conversations": conversations,
            "uploads": uploads,
            "audit_events": events,
            "access_log": access,
            "requests": requests,
            "retention_days": Retention(self.s).settings(s),
        }

    def _message_dict(self, s: Session, m: Message, owner_id: int, erased: str) -> dict[str, Any]:
        text = self.read_text(s, m, owner_id)
        kept = m.text is not None or m.text_encrypted is not None
        return {
            "id": m.id, "role": m.role, "created_at": utc_iso(m.created_at), "language": m.language, "action": m.action,
            "text": text if text is not None else (erased if kept else None),
            "text_status": "plain" if m.text is not None else ("encrypted" if text is not None else ("shredded" if kept else "not kept")),
            "citations": m.citations, "feedback": m.feedback,
            "verdicts": [{"stage": v.stage, "safe": v.safe, "action": v.action, "categories": v.categories, "score": v.score,
                          "backend": v.backend, "model": v.model} for v in m.verdicts],
        }

    def _access_dict(self, s: Session, a: AccessLog) -> dict[str, Any]:
        actor = s.get(User, a.actor_id) if a.actor_id else None
        return {"id": a.id, "ts": utc_iso(a.ts), "actor_role": a.actor_role, "actor_subject": a.actor_subject,
                "actor": (actor.display_name or actor.username) if actor else None, "student": a.subject,
                "course_id": a.course_id, "conversation_id": a.conversation_id, "reason": a.reason, "audit_seq": a.audit_seq}

    # -- right to erasure (Art. 17) --------------------------------------------------
    def erase_subject(self, user_ref: str | int, *, handled_by: str = "cli", queue_compaction: bool = False) -> dict[str, Any]:
        """Crypto-shred and delete everything held about one user; return the receipt.

        The rebuild of the touched courses' vector collections (step 5) can take minutes on a
        large course: with ``queue_compaction`` (the DPO panel) it is queued as a background
        job (``vector_compaction_jobs`` in the receipt; ``kateder worker`` or the web
        process's job thread runs it) instead of running in the caller.
        """
        db = self.s.db
        with db.session() as s:
            user = self.resolve_user(s, user_ref)
            uid, role, school_id, username = user.id, user.role, user.school_id, user.username
            subject = self.subject(uid)
            # 1. crypto-shredding first: from this commit on no copy of the text can be read
            key_destroyed = self.keys.destroy(s, uid)
        receipt: dict[str, Any] = {"subject": subject, "user_id": uid, "username": username, "role": role,
                                   "key_destroyed": key_destroyed}
        # rotating the master key makes the destroyed key unrecoverable from database backups too
        receipt["master_key_rotated"] = self.keys.rotate(db) is not None if key_destroyed else False
        # 2. uploads: a student's files go with their rows, vectors and stored originals;
        #    staff uploads are school material and are kept, no longer attributed to the person
        with db.session() as s:
            docs = s.execute(select(Document.id, Document.course_id).where(Document.uploaded_by == uid)).all()
        courses_touched: set[int] = set()
        deleted_docs = 0
        if role == "student":
            for doc_id, course_id in docs:
                self.s.ingest.delete_document(doc_id)
                courses_touched.add(course_id)
                deleted_docs += 1
        receipt["documents_deleted"] = deleted_docs
        receipt["documents_unattributed"] = len(docs) - deleted_docs
        receipt["upload_jobs"] = self._erase_upload_jobs(uid, remove=role == "student")
        # 3. database rows: conversations (messages, verdicts), tokens, enrolments, the account
        with db.session() as s:
            conv_ids = list(s.scalars(select(Conversation.id).where(Conversation.user_id == uid)))
            msg_ids = list(s.scalars(select(Message.id).where(Message.conversation_id.in_(conv_ids)))) if conv_ids else []
            receipt["conversations"] = len(conv_ids)
            receipt["messages"] = len(msg_ids)
            receipt["guard_verdicts"] = len(list(s.scalars(select(GuardVerdict.id).where(GuardVerdict.message_id.in_(msg_ids))))) if msg_ids else 0
            receipt["rows_deleted"] = delete_with_dependents(s, User.__table__, [uid])
            accounts.forget_sign_in_failures(s, accounts.Throttle(pepper=self.s.audit.pseudonymizer.key), username)
            s.execute(update(AccessLog).where(AccessLog.student_id == uid).values(student_id=None))
            s.execute(update(AccessLog).where(AccessLog.actor_id == uid).values(actor_id=None))
            old_exports = list(s.scalars(select(DsarRequest).where(DsarRequest.user_id == uid)))
            for r in old_exports:
                r.user_id = None
        # 4. files: earlier data-subject exports kept in the instance folder
        removed_files = 0
        for r in old_exports:
            directory = Path(r.receipt.get("directory", "")) if r.receipt else None
            if directory and directory.is_dir() and _inside(directory, self.home):
                removed_files += sum(1 for p in directory.rglob("*") if p.is_file())
                shutil.rmtree(directory, ignore_errors=True)
        receipt["export_files_deleted"] = removed_files
        # 5. storage compaction: no deleted text left in free pages, write-ahead logs or vector logs
        receipt["vector_collections_compacted"], postponed = [], []
        if queue_compaction:
            receipt["vector_compaction_jobs"] = [self.s.jobs.enqueue_task(COMPACT_KIND, course_id, {"reason": "erasure"})["id"]
                                                 for course_id in sorted(courses_touched)]
        for course_id in [] if queue_compaction else sorted(courses_touched):
            try:
                if compact_collection(self.s.vector_store, course_id, db=db):
                    receipt["vector_collections_compacted"].append(course_id)
            except MaterialChanged:  # an upload meanwhile: the course stays as it is, compaction is not done
                postponed.append(course_id)
        if postponed:
            receipt["vector_collections_not_compacted"] = postponed
        receipt["database_compacted"] = compact_sqlite(db)
        # 6. the request and its audit event (the pseudonymous skeleton of the subject's events stays)
        with db.session() as s:
            receipt["audit_events_kept"] = len(list(s.scalars(select(AuditEvent.id).where(AuditEvent.subject == subject))))
            receipt["erased_at"] = datetime.now(UTC).isoformat()
            stored = {k: v for k, v in receipt.items() if k not in ("username", "user_id")}
            request = DsarRequest(kind="erase", subject=subject, user_id=None, handled_by=handled_by, status="done",
                                  completed_at=utcnow(), receipt=stored)
            s.add(request)
            s.flush()
            who = SimpleNamespace(id=uid, role=role, school_id=school_id)
            event = self.s.audit.record(s, "erasure", user=who, details={"request_id": request.id, "handled_by": handled_by, **stored})
            receipt["request_id"] = request.id
            receipt["audit_seq"] = event.seq
        return receipt


    def compact_task(self, course_id: int | None, payload: dict[str, Any], progress) -> dict[str, Any]:
        """The background job of a queued compaction (:data:`COMPACT_KIND`): rebuild one course's vectors."""
        store = self.s.vector_store
        total = max(1, store.count(course_id)) if hasattr(store, "count") else 1
        progress("compacting", 0.0)
        done = compact_collection(store, course_id, db=self.s.db,
                                  progress=lambda copied: progress("compacting", min(0.99, copied / total)))
        return {"compacted": done, "course_id": course_id}

    def compaction_jobs(self, school_id: int | None, limit: int = 20) -> list[dict[str, Any]]:
        """The latest compaction jobs of the school's courses, newest first (the DPO panel's status)."""
        with self.s.db.session() as s:
            rows = s.execute(select(Job, Course.code).join(Course, Course.id == Job.course_id)
                             .where(Job.kind == COMPACT_KIND, Course.school_id == school_id)
                             .order_by(Job.id.desc()).limit(limit)).all()
            return [{**job_dict(job), "course_code": code} for job, code in rows]

    def _erase_upload_jobs(self, uid: int, *, remove: bool) -> int:
        """Queued or failed upload jobs of the user: dropped with their stored original (or de-attributed)."""
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
                in_use = s.scalar(select(Document.id).where(Document.content_hash == digest).limit(1))
            if in_use is None:
                self.s.files.delete(digest)
        return count


def _dsar_dict(r: DsarRequest) -> dict[str, Any]:
    receipt = dict(r.receipt or {})
    receipt.pop("directory", None)
    return {"id": r.id, "kind": r.kind, "subject": r.subject, "handled_by": r.handled_by, "status": r.status,
            "created_at": utc_iso(r.created_at), "completed_at": utc_iso(r.completed_at) if r.completed_at else None, "receipt": receipt}


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def compact_sqlite(db) -> bool:
    """VACUUM an SQLite database and truncate its WAL, so deleted rows leave no readable pages."""
    if not db.is_sqlite:
        return False
    db.engine.dispose()  # pooled connections hold read snapshots that would keep old WAL frames
    with db.engine.connect() as conn:
        raw = conn.connection.driver_connection
        raw.commit()
        old = raw.isolation_level
        raw.isolation_level = None
        try:
            raw.execute("VACUUM")
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.isolation_level = old
    return True


def compact_collection(store, course_id: int, *, db=None, progress=None) -> bool:
    """Rebuild a course's vectors so deleted passages are gone from Chroma's write-ahead log too.

    Chroma keeps every upsert in its embedded log until the segment is flushed; dropping a
    collection drops that log. The course's own entries are copied into a replacement
    collection, which is then swapped in through the store's interface (``replace``, as
    ``kateder reindex`` does): students keep searching the live collection meanwhile, and a
    crash part-way leaves it intact. With ``db``, a change to the course's material during
    the copy stops the swap (the upload would be lost), as in ``kateder reindex``.
    ``progress(copied)`` is called after each page is written to the replacement.
    """
    if not all(hasattr(store, name) for name in ("entries", "replace")):
        return False
    version = _content_version(db, course_id) if db is not None else None

    def batches():
        copied = 0
        for batch in store.entries(course_id):
            yield batch
            copied += len(batch[0])
            if progress is not None:
                progress(copied)
        if db is not None and _content_version(db, course_id) != version:
            raise MaterialChanged("the course's material changed during compaction; run it again")

    store.replace(course_id, batches())
    vacuum = getattr(store, "vacuum", None)
    if vacuum is not None:
        vacuum()
    return True


def _content_version(db, course_id: int) -> int | None:
    with db.session() as s:
        return s.scalar(select(Course.content_version).where(Course.id == course_id))


def render_subject_html(data: dict[str, Any]) -> str:
    """The readable page of a data-subject export, in the subject's language."""
    t = _EXPORT_LABELS.get(language_code(data.get("language")), _EXPORT_LABELS["en"])
    e = html.escape
    acc = data["account"]
    parts = [
        "<!doctype html><html lang='" + e(language_code(data.get("language"))) + "'><head><meta charset='utf-8'>",
        f"<title>{e(t['title'])}</title><style>body{{font-family:sans-serif;max-width:52rem;margin:2rem auto;line-height:1.45}}"
        "table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}"
        ".q{background:#eef4ff}.a{background:#f6f6f6}.meta{color:#555;font-size:.85em}</style></head><body>",
        f"<h1>{e(t['title'])}</h1><p>{e(t['intro'].format(ts=data['generated_at'][:19].replace('T', ' ')))}</p>",
        f"<p class='meta'>{e(data.get('controller') or '')} {e(data.get('dpo_contact') or '')}</p>",
        f"<h2>{e(t['account'])}</h2><table>",
    ]
    for k in ("username", "display_name", "role", "language", "school", "created_at"):
        parts.append(f"<tr><th>{e(k)}</th><td>{e(str(acc.get(k) or ''))}</td></tr>")
    parts.append(f"</table><h2>{e(t['courses'])}</h2>")
    parts.append("<ul>" + "".join(f"<li>{e(str(x['course']))} {e(x['title'] or '')} ({e(x['role'])})</li>" for x in data["enrolments"]) + "</ul>"
                 if data["enrolments"] else f"<p>{e(t['none'])}</p>")
    parts.append(f"<h2>{e(t['conversations'])}</h2>")
    if not data["conversations"]:
        parts.append(f"<p>{e(t['none'])}</p>")
    for conv in data["conversations"]:
        parts.append(f"<h3>{e(str(conv['course']))} · {e(conv['created_at'][:16].replace('T', ' '))}</h3>")
        for m in conv["messages"]:
            who = t["you"] if m["role"] == "user" else t["assistant"]
            cls = "q" if m["role"] == "user" else "a"
            parts.append(f"<p class='{cls}'><b>{e(who)}</b> <span class='meta'>{e(m['created_at'][:19].replace('T', ' '))} · {e(m['action'])}</span><br>"
                         f"{e(m['text'] or '')}</p>")
    parts.append(f"<h2>{e(t['uploads'])}</h2>")
    parts.append("<ul>" + "".join(f"<li>{e(u['filename'])} ({u['size_bytes']} B)</li>" for u in data["uploads"]) + "</ul>"
                 if data["uploads"] else f"<p>{e(t['none'])}</p>")
    parts.append(f"<h2>{e(t['access'])}</h2>")
    if data["access_log"]:
        parts.append("<table><tr><th>UTC</th><th>role</th><th>who</th><th>reason</th></tr>")
        for a in data["access_log"]:
            parts.append(f"<tr><td>{e(a['ts'][:19].replace('T', ' '))}</td><td>{e(a['actor_role'])}</td><td>{e(a['actor'] or '')}</td><td>{e(a['reason'])}</td></tr>")
        parts.append("</table>")
    else:
        parts.append(f"<p>{e(t['none'])}</p>")
    parts.append(f"<h2>{e(t['events'])}</h2><table><tr><th>#</th><th>UTC</th><th>action</th></tr>")
    for ev in data["audit_events"]:
        parts.append(f"<tr><td>{ev['seq']}</td><td>{e(ev['ts'][:19].replace('T', ' '))}</td><td>{e(ev['action'])}</td></tr>")
    parts.append(f"</table><h2>{e(t['requests'])}</h2>")
    parts.append("<ul>" + "".join(f"<li>{e(r['kind'])} {e(r['created_at'][:19].replace('T', ' '))}</li>" for r in data["requests"]) + "</ul>"
                 if data["requests"] else f"<p>{e(t['none'])}</p>")
    parts.append(f"<h2>{e(t['retention'])}</h2><table>")
    for cat, days in data["retention_days"].items():
        parts.append(f"<tr><td>{e(cat)}</td><td>{days} {e(t['days'])}</td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts)


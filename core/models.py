"""SQLAlchemy 2.0 models: the relational half of Kateder's state.

Vectors live in Chroma; everything a school must be able to account for lives here.
Schema changes go through Alembic revisions in ``migrations/versions``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ROLES = ("student", "teacher", "admin", "dpo")


def utcnow() -> datetime:
    """Timezone-aware current UTC time (all timestamps are stored in UTC)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with a JSON type map shared by all models."""

    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class School(Base):
    """A school: the data controller for everything under it."""

    __tablename__ = "schools"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2), default="SE")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # the data protection officer's contact, set in the DPO panel (NULL: config DPO_CONTACT);
    # revision 0011
    dpo_contact: Mapped[str | None] = mapped_column(String(300))
    # crisis alerts by e-mail (revision 0012, app/services/alerts.py): off unless the school's
    # admin turns them on
    alert_email_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    alert_email_to: Mapped[str | None] = mapped_column(String(254))

    users: Mapped[list[User]] = relationship(back_populates="school")
    courses: Mapped[list[Course]] = relationship(back_populates="school")


class User(Base):
    """A person with one role; students are pseudonymous (no real name needed)."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str | None] = mapped_column(String(120))
    language: Mapped[str] = mapped_column(String(8), default="en")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    school: Mapped[School] = relationship(back_populates="users")
    enrolments: Mapped[list[Enrolment]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )


class ApiToken(Base):
    """A bearer token for the JSON API; only its SHA-256 is stored. Revoking deletes the row."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


class SignInThrottle(Base):
    """Wrong sign-ins in a row for one typed username, whether or not such an account exists.

    Keyed by a keyed HMAC of the name (app/services/accounts.py), so an unknown name is
    throttled exactly like a real one and the table holds no readable name. Rows older
    than a day without a failure are pruned.
    """

    __tablename__ = "sign_in_throttle"

    name_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_failure_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )


class UserSession(Base):
    """A signed-in browser session; the cookie carries a random key, only its SHA-256 is here.

    Checked on every request (idle and absolute lifetime); deleting the row ends the session.
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    method: Mapped[str] = mapped_column(String(16), default="password")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Course(Base):
    """A course: its own material, its own policy, its own students."""

    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    code: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="en")
    join_code: Mapped[str | None] = mapped_column(String(16), unique=True)
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    daily_question_limit: Mapped[int] = mapped_column(Integer, default=50)
    # bumped whenever the set of visible passages changes; caches key on it
    content_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # set when a teacher archives the course: hidden from students, read-only for teachers
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the Chroma server of its vectors (CHROMA_SERVERS, ingest/routing.py): NULL until first
    # routed, "old>new" while `kateder reindex --to-server` moves it
    chroma_server: Mapped[str | None] = mapped_column(String(64))

    school: Mapped[School] = relationship(back_populates="courses")
    enrolments: Mapped[list[Enrolment]] = relationship(
        back_populates="course", cascade="all, delete-orphan"
    )
    documents: Mapped[list[Document]] = relationship(back_populates="course")


class Enrolment(Base):
    """Membership of a user in a course, as student or teacher."""

    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("user_id", "course_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16), default="student")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    user: Mapped[User] = relationship(back_populates="enrolments")
    course: Mapped[Course] = relationship(back_populates="enrolments")


class Document(Base):
    """One piece of course material; ``version`` is the version students can see."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    title: Mapped[str] = mapped_column(String(300))
    filename: Mapped[str] = mapped_column(String(300))
    mime_type: Mapped[str] = mapped_column(String(120), default="text/plain")
    content_hash: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    storage_path: Mapped[str] = mapped_column(String(500), default="")
    language: Mapped[str | None] = mapped_column(String(8))
    # version visible to students (0 = none yet); a new upload indexes version+1, then flips
    version: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    course: Mapped[Course] = relationship(back_populates="documents")
    passages: Mapped[list[Passage]] = relationship(
        back_populates="document", cascade="all, delete-orphan"
    )


class Passage(Base):
    """A chunk of a document version with its provenance; its vector lives in Chroma."""

    __tablename__ = "passages"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)  # "<doc>:<version>:<ordinal>"
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    page: Mapped[int | None] = mapped_column(Integer)
    section: Mapped[str | None] = mapped_column(String(500))
    char_start: Mapped[int] = mapped_column(Integer, default=0)
    char_end: Mapped[int] = mapped_column(Integer, default=0)
    language: Mapped[str | None] = mapped_column(String(8))
    # indexed: searchable; held: flagged by the safety scan, awaiting the teacher
    status: Mapped[str] = mapped_column(String(16), default="indexed")
    flag_reason: Mapped[str | None] = mapped_column(Text)

    document: Mapped[Document] = relationship(back_populates="passages")


class Job(Base):
    """A background job (ingestion) with a stage and a percentage for progress bars."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued running done failed
    stage: Mapped[str] = mapped_column(String(32), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class Conversation(Base):
    """A student's conversation in one course."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # a title the student gave it, sealed like message text (None: derived from the first question)
    title_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    # deleted by the student: hidden, text wiped; the rows stay for the daily count and the
    # review queue
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    messages: Mapped[list[Message]] = relationship(
        back_populates="conversation", cascade="all, delete-orphan", order_by="Message.id"
    )


class Message(Base):
    """One question or answer. Text is redacted of personal data before it is stored."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))  # user | assistant
    text: Mapped[str | None] = mapped_column(Text)
    text_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    language: Mapped[str | None] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(
        String(16), default="allow"
    )  # allow care block crisis error
    citations: Mapped[list[Any]] = mapped_column(default=list)
    feedback: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="messages")
    verdicts: Mapped[list[GuardVerdict]] = relationship(
        back_populates="message", cascade="all, delete-orphan"
    )


class GuardVerdict(Base):
    """What a guard backend said about one message (or a passage, for material scans)."""

    __tablename__ = "guard_verdicts"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    passage_id: Mapped[str | None] = mapped_column(String(80))
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id"))
    stage: Mapped[str] = mapped_column(String(16))  # input | output | material
    safe: Mapped[bool] = mapped_column(Boolean)
    action: Mapped[str] = mapped_column(String(16))
    categories: Mapped[list[Any]] = mapped_column(default=list)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    backend: Mapped[str] = mapped_column(String(64), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    error: Mapped[str | None] = mapped_column(Text)
    reviewed: Mapped[str | None] = mapped_column(String(16))  # None | confirmed | false_positive
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    message: Mapped[Message | None] = relationship(back_populates="verdicts")


class AuditEvent(Base):
    """One tamper-evident audit record; ``hash`` chains it to the event before it in its chain."""

    __tablename__ = "audit_events"
    __table_args__ = (UniqueConstraint("chain", "seq", name="uq_audit_events_chain_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # which hash chain: "school:<id>", "installation" (no school) or "legacy" (the single chain
    # before 0009)
    chain: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)  # position within its chain
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    subject: Mapped[str | None] = mapped_column(
        String(64), index=True
    )  # HMAC pseudonym of the user
    role: Mapped[str | None] = mapped_column(String(16))
    school_id: Mapped[int | None] = mapped_column(Integer)
    course_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # SHA-256 of the canonical details: the chain hashes this, so retention can drop details
    details_digest: Mapped[str | None] = mapped_column(String(64))
    details_purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditHead(Base):
    """One row per chain holding its head; writers of that chain lock it so the chain never
    forks."""

    __tablename__ = "audit_head"
    __table_args__ = (UniqueConstraint("chain", name="uq_audit_head_chain"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """Where a chain restarts after retention removed its oldest events."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (UniqueConstraint("chain", "seq", name="uq_audit_checkpoints_chain_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)  # the last removed event of its chain
    hash: Mapped[str] = mapped_column(String(64))  # its hash: the next event's prev_hash
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    events_removed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SubjectKey(Base):
    """A user's data key, wrapped by the master key kept outside the database."""

    __tablename__ = "subject_keys"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DsarRequest(Base):
    """A data-subject request (export or erasure) and its receipt."""

    __tablename__ = "dsar_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # export | erase
    subject: Mapped[str] = mapped_column(String(64), index=True)  # pseudonym, survives erasure
    user_id: Mapped[int | None] = mapped_column(Integer)  # cleared on erasure
    handled_by: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16), default="done")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    receipt: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AccessLog(Base):
    """A teacher, admin or DPO opened a student's conversation, with the written reason."""

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_role: Mapped[str] = mapped_column(String(16))
    actor_subject: Mapped[str] = mapped_column(String(64))
    student_id: Mapped[int | None] = mapped_column(Integer)  # cleared on erasure
    subject: Mapped[str] = mapped_column(String(64), index=True)  # the student's pseudonym
    course_id: Mapped[int | None] = mapped_column(Integer)
    conversation_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    audit_seq: Mapped[int | None] = mapped_column(Integer)


class RetentionSetting(Base):
    """A DPO's override of the configured retention period of one data category."""

    __tablename__ = "retention_settings"

    category: Mapped[str] = mapped_column(String(40), primary_key=True)
    days: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(80))

"""SQLAlchemy models of the LTI 1.3 tool: platform registrations per school, and what launches
map to.

Kept apart from ``core/models.py`` (same ``Base``, same metadata); ``migrations/env.py`` and
``app/services/lti.py`` import this module so the tables are always registered.
Schema: ``migrations/versions/0004_lti_registrations.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.models import Base, School, utcnow


class LtiRegistration(Base):
    """One LMS platform (issuer + client id) registered for one school, with the tool's own
    signing key.

    ``private_key`` is the PEM of the RSA key Kateder signs deep-linking responses with; its
    public half is served at ``/lti/jwks`` under ``key_id``. ``keep_names``: the school lets
    Kateder store the ``name`` claim as the display name (off: users are the LTI ``sub`` only).
    """

    __tablename__ = "lti_registrations"
    __table_args__ = (UniqueConstraint("issuer", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(120), default="")
    issuer: Mapped[str] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(255))
    auth_login_url: Mapped[str] = mapped_column(String(500))
    auth_token_url: Mapped[str] = mapped_column(String(500), default="")
    key_set_url: Mapped[str] = mapped_column(String(500))
    deployment_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    private_key: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    keep_names: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    school: Mapped[School] = relationship()


class LtiContext(Base):
    """An LMS course (the launch's ``context``) placed on a Kateder course."""

    __tablename__ = "lti_contexts"
    __table_args__ = (UniqueConstraint("registration_id", "context_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("lti_registrations.id", ondelete="CASCADE")
    )
    context_id: Mapped[str] = mapped_column(String(255))
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LtiUser(Base):
    """The Kateder account of one LTI ``sub`` of one registration (the platform's pseudonym)."""

    __tablename__ = "lti_users"
    __table_args__ = (UniqueConstraint("registration_id", "sub"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("lti_registrations.id", ondelete="CASCADE")
    )
    sub: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LtiLaunchState(Base):
    """Short-lived OIDC login state and nonces, and validated launches (pylti1p3's launch data
    storage).

    In the database rather than the Flask session: the platform's form post that carries the
    id_token is a cross-site POST, on which the browser does not send the SameSite=Lax
    session cookie; and every worker sees the same rows.
    """

    __tablename__ = "lti_launch_state"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

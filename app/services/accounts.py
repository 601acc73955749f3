"""Schools, users, courses, enrolments and API tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import overload

from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from app.db import rowcount
from core.errors import UserError
from core.models import (
    ROLES,
    ApiToken,
    Course,
    Enrolment,
    School,
    SignInThrottle,
    User,
    UserSession,
    utcnow,
)

# compared against when the username is unknown, so both cases cost one scrypt check
_DUMMY_HASH = generate_password_hash(secrets.token_hex(16))


class AccountError(UserError):
    """A user-facing problem with an account operation (400, ``account_invalid``)."""

    code = "account_invalid"


def create_school(session: Session, name: str, country: str = "SE") -> School:
    """Add a school."""
    school = School(name=name, country=country.upper())
    session.add(school)
    session.flush()
    return school


def create_user(
    session: Session, school: School, username: str, password: str, role: str, **fields
) -> User:
    """Add a user with a scrypt password hash."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if session.scalar(select(User).where(User.username == username)):
        raise AccountError(f"username {username!r} is taken")
    user = User(
        school_id=school.id,
        username=username,
        password_hash=generate_password_hash(password),
        role=role,
        **fields,
    )
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    """Replace a user's password (no session ends: use :func:`change_password` for that)."""
    user.password_hash = generate_password_hash(password)


MIN_PASSWORD_LENGTH = 8


def change_password(
    session: Session, user: User, password: str, throttle: Throttle | None = None
) -> dict[str, int]:
    """Replace a user's password and end every session and API token of theirs.

    With ``throttle``, the name's sign-in failures are forgotten too (a locked-out user
    whose password an admin resets can sign in at once).
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the new password must have at least {MIN_PASSWORD_LENGTH} characters")
    set_password(user, password)
    if throttle is not None:
        forget_sign_in_failures(session, throttle, user.username)
    return {
        "sessions_ended": end_all_sessions(session, user.id),
        "tokens_revoked": revoke_all_tokens(session, user.id),
    }


def set_role(session: Session, user: User, role: str) -> dict[str, int]:
    """Give a user another role; their sessions and API tokens end (they sign in again)."""
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    user.role = role
    return {
        "sessions_ended": end_all_sessions(session, user.id),
        "tokens_revoked": revoke_all_tokens(session, user.id),
    }


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None (no throttling: see :func:`sign_in`)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        return None
    return user


@dataclass(frozen=True)
class Throttle:
    """Sign-in backoff per typed username: ``free`` failures in a row, then ``base`` seconds
    doubling up to ``cap``.

    ``pepper`` keys the HMAC under which a name's failures are stored (the audit
    pseudonym key, app/security.py), so the table holds no readable or guessable name.
    """

    free: int = 5
    base: float = 30.0
    cap: float = 900.0
    pepper: bytes = b""

    @classmethod
    def from_config(cls, config, *, pepper: bytes = b"") -> Throttle:
        """The ``LOGIN_*`` settings of ``config``."""
        return cls(
            int(config.get("LOGIN_FREE_ATTEMPTS", 5)),
            float(config.get("LOGIN_BACKOFF_SECONDS", 30)),
            float(config.get("LOGIN_BACKOFF_MAX_SECONDS", 900)),
            pepper,
        )

    def delay(self, failures: int) -> float:
        """Seconds a name stays blocked after ``failures`` failures in a row."""
        if failures < self.free:
            return 0.0
        return min(self.cap, self.base * 2 ** (failures - self.free))

    def key(self, username: str) -> str:
        """The stored key of a typed username (case and surrounding spaces do not matter)."""
        return hmac.new(
            self.pepper, f"sign-in:{username.strip().casefold()}".encode(), hashlib.sha256
        ).hexdigest()


# a throttle row without a failure for this long is forgotten
THROTTLE_MEMORY = timedelta(days=1)


@dataclass(frozen=True)
class SignIn:
    """The outcome of one sign-in attempt."""

    user: User | None
    reason: str = ""  # "" (signed in) | wrong | blocked
    retry_after: int = 0  # seconds until the name may try again (blocked)
    account: User | None = (
        None  # the existing account the attempt named, if any (for the audit only)
    )


def sign_in(
    session: Session,
    username: str,
    password: str,
    throttle: Throttle | None = None,
    now: datetime | None = None,
) -> SignIn:
    """Check credentials with backoff per typed username; the password itself is never stored or
    logged.

    An unknown username is counted and blocked exactly like an existing account, and every
    path makes one password check, so neither the answer nor its timing tells whether an
    account exists or is blocked.
    """
    throttle = throttle or Throttle()
    now = now or utcnow()
    user = session.scalar(select(User).where(User.username == username))
    key = throttle.key(username)
    state = session.get(SignInThrottle, key)
    correct = check_password_hash(user.password_hash if user is not None else _DUMMY_HASH, password)
    blocked = _aware(state.blocked_until) if state is not None else None
    if blocked is not None and blocked > now:
        return SignIn(
            None, "blocked", max(1, int((blocked - now).total_seconds() + 0.999)), account=user
        )
    if user is None or not user.active or not correct:
        if state is None:
            state = SignInThrottle(name_key=key, failures=0)
            session.add(state)
        state.failures = (state.failures or 0) + 1
        delay = throttle.delay(state.failures)
        state.blocked_until = now + timedelta(seconds=delay) if delay else None
        state.last_failure_at = now
        session.execute(
            delete(SignInThrottle).where(
                SignInThrottle.last_failure_at < now - THROTTLE_MEMORY,
                SignInThrottle.name_key != key,
            )
        )
        return SignIn(None, "wrong", int(delay + 0.999), account=user)
    if state is not None:
        session.delete(state)
    return SignIn(user, account=user)


def forget_sign_in_failures(session: Session, throttle: Throttle, username: str) -> None:
    """Clear a name's failures (a new password, or the account's erasure)."""
    session.execute(delete(SignInThrottle).where(SignInThrottle.name_key == throttle.key(username)))


def failures_of(session: Session, throttle: Throttle, username: str) -> SignInThrottle | None:
    """The throttle state of a typed username, or None (for tests and the admin)."""
    return session.get(SignInThrottle, throttle.key(username))


@overload
def _aware(value: datetime) -> datetime: ...
@overload
def _aware(value: None) -> None: ...
def _aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every stored time is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def create_course(
    session: Session, school: School, code: str, title: str, language: str = "en", **fields
) -> Course:
    """Add a course with a fresh join code."""
    if session.scalar(select(Course).where(Course.code == code)):
        raise AccountError(f"course code {code!r} is taken")
    course = Course(
        school_id=school.id,
        code=code,
        title=title,
        language=language,
        join_code=secrets.token_hex(3).upper(),
        **fields,
    )
    session.add(course)
    session.flush()
    return course


def enrol(session: Session, user: User, course: Course, role: str | None = None) -> Enrolment:
    """Enrol a user in a course (idempotent)."""
    existing = session.scalar(
        select(Enrolment).where(Enrolment.user_id == user.id, Enrolment.course_id == course.id)
    )
    if existing:
        return existing
    enrolment = Enrolment(
        user_id=user.id,
        course_id=course.id,
        role=role or ("teacher" if user.role == "teacher" else "student"),
    )
    session.add(enrolment)
    session.flush()
    return enrolment


def _enrolled(session: Session, user: User, course: Course) -> bool:
    return (
        session.scalar(
            select(Enrolment.id).where(
                Enrolment.user_id == user.id, Enrolment.course_id == course.id
            )
        )
        is not None
    )


def can_ask(session: Session, user: User, course: Course) -> bool:
    """Students and teachers enrolled in the course may ask in it, unless it is archived."""
    if user.school_id != course.school_id or course.archived_at is not None:
        return False
    return _enrolled(session, user, course)


def can_teach(session: Session, user: User, course: Course) -> bool:
    """Teachers of the course and school admins may manage its material."""
    if user.school_id != course.school_id:
        return False
    if user.role == "admin":
        return True
    return user.role == "teacher" and _enrolled(session, user, course)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_token_digest = _digest


def issue_token(session: Session, user: User, ttl_hours: int = 12) -> str:
    """Create a bearer token; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            user_id=user.id,
            token_hash=_digest(token),
            expires_at=utcnow() + timedelta(hours=ttl_hours),
        )
    )
    session.flush()
    return token


def token_row(session: Session, token: str) -> ApiToken | None:
    """The stored row of a valid, unexpired token whose user is active (expired rows are
    removed).
    """
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None:
        return None
    expires = _aware(row.expires_at)
    if expires is not None and expires < utcnow():
        session.delete(row)
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    now = utcnow()
    last = _aware(row.last_used_at)
    if last is None or (now - last).total_seconds() > 60:  # at most one write a minute per token
        row.last_used_at = now
    return row


def user_for_token(session: Session, token: str) -> User | None:
    """The user a valid, unexpired token belongs to."""
    row = token_row(session, token)
    return session.get(User, row.user_id) if row is not None else None


def list_tokens(session: Session, user_id: int) -> list[ApiToken]:
    """A user's unexpired tokens, newest first (the secrets themselves are never stored)."""
    now = utcnow()
    rows = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())
    ).all()
    return [r for r in rows if r.expires_at is None or _aware(r.expires_at) >= now]


def revoke_token(session: Session, user_id: int, token_id: int) -> bool:
    """Revoke one of the user's own tokens; False if there is no such token of theirs."""
    return (
        rowcount(
            session.execute(
                delete(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id)
            )
        )
        > 0
    )


def revoke_all_tokens(session: Session, user_id: int) -> int:
    """Revoke every API token of a user; how many there were."""
    return rowcount(session.execute(delete(ApiToken).where(ApiToken.user_id == user_id)))


# -- browser sessions (revocable: a row per session, checked on every request) --------
@dataclass(frozen=True)
class SessionLifetime:
    """How long a browser session lasts: ``idle`` without a request, ``absolute`` in all."""

    idle: timedelta = timedelta(minutes=60)
    absolute: timedelta = timedelta(hours=12)

    @classmethod
    def from_config(cls, config) -> SessionLifetime:
        """``SESSION_IDLE_MINUTES`` and ``SESSION_MAX_HOURS`` of ``config``."""
        return cls(
            timedelta(minutes=float(config.get("SESSION_IDLE_MINUTES", 60))),
            timedelta(hours=float(config.get("SESSION_MAX_HOURS", 12))),
        )


def start_session(session: Session, user: User, method: str = "password") -> str:
    """Record a new browser session; the returned key goes into the signed cookie."""
    key = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        UserSession(
            user_id=user.id, key_hash=_digest(key), method=method, created_at=now, last_seen_at=now
        )
    )
    session.flush()
    return key


def session_valid(
    session: Session,
    user_id: int,
    key: str | None,
    lifetime: SessionLifetime,
    now: datetime | None = None,
) -> bool:
    """Whether ``key`` is a live session of ``user_id``; an expired one is removed."""
    if not key:
        return False
    row = session.scalar(select(UserSession).where(UserSession.key_hash == _digest(key)))
    if row is None or row.user_id != user_id:
        return False
    now = now or utcnow()
    if (
        now - _aware(row.last_seen_at) > lifetime.idle
        or now - _aware(row.created_at) > lifetime.absolute
    ):
        session.delete(row)
        return False
    if (
        now - _aware(row.last_seen_at)
    ).total_seconds() > 30:  # at most one write every 30 s per session
        row.last_seen_at = now
    return True


def end_session(session: Session, key: str | None) -> None:
    """End one browser session (sign-out)."""
    if key:
        session.execute(delete(UserSession).where(UserSession.key_hash == _digest(key)))


def end_all_sessions(session: Session, user_id: int) -> int:
    """End every browser session of a user ("sign out everywhere"); how many there were."""
    return rowcount(session.execute(delete(UserSession).where(UserSession.user_id == user_id)))

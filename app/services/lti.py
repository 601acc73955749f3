"""LTI 1.3 tool: platform registrations per school, and who and what a verified launch becomes.

The protocol (OIDC login initiation, state, nonce, the id_token's signature against the
platform's JWKS, the deployment, the message type) is pylti1p3's; this module gives it the
registrations (:class:`ToolConfig`), a database store for its state (:class:`LaunchStore`,
single-use nonces), and decides from the verified claims which pseudonymous account signs
in and which course opens (:func:`resolve_launch`). docs/operations.md, "LTI 1.3".
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pylti1p3.deployment import Deployment
from pylti1p3.launch_data_storage.base import LaunchDataStorage
from pylti1p3.registration import Registration
from pylti1p3.session import SessionService
from pylti1p3.tool_config import ToolConfAbstract
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.db import rowcount
from app.services import accounts
from core.errors import UserError
from core.language import LANGUAGES
from core.lti_models import LtiContext, LtiLaunchState, LtiRegistration, LtiUser
from core.models import Course, School, User, utcnow

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
# context roles (LTI 1.3, appendix A.2.2) -> Kateder role; the highest wins; any other role launches
# nothing
ROLE_MAP = {
    "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor": "teacher",
    "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner": "student",
    "Instructor": "teacher",  # the simple names the spec allows for context roles
    "Learner": "student",
}
_RANK = {"student": 0, "teacher": 1}
COURSE_PARAM = "kateder_course"  # the custom parameter a deep-linked resource carries
# seconds: OIDC state and nonce, and a deep-linking launch waiting for the teacher's choice
STATE_LIFETIME = 3600

DbSession = Callable[[], AbstractContextManager[Session]]


class LtiError(UserError):
    """A registration that cannot be saved; the message says which field (400,
    ``lti_registration_invalid``).
    """

    code = "lti_registration_invalid"


@dataclass(frozen=True)
class RegistrationForm:
    """What an admin types in for one platform."""

    issuer: str
    client_id: str
    auth_login_url: str
    key_set_url: str
    deployment_ids: tuple[str, ...]
    auth_token_url: str = ""
    label: str = ""
    keep_names: bool = False


@dataclass(frozen=True)
class LaunchResult:
    """Who signs in and where to (``user``, ``course``), or why nobody does (``reason``)."""

    user: User | None = None
    course: Course | None = None
    role: str | None = None
    reason: str = ""
    created: bool = False
    role_changed_from: str | None = None


# -- registrations ----------------------------------------------------------------------


def _url(value: str, field: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise LtiError(f"{field}: an http(s) URL is required")
    return value


def create_registration(s: Session, school: School, form: RegistrationForm) -> LtiRegistration:
    """Save a platform for ``school`` with a fresh 2048-bit RSA key for the tool."""
    issuer = _url(form.issuer, "issuer") if "://" in form.issuer else form.issuer.strip()
    if not issuer:
        raise LtiError("issuer is required")
    client_id = form.client_id.strip()
    if not client_id:
        raise LtiError("client_id is required")
    deployments = tuple(d.strip() for d in form.deployment_ids if d.strip())
    if not deployments:
        raise LtiError("deployment_ids: at least one deployment id is required")
    if s.scalar(
        select(LtiRegistration.id).where(
            LtiRegistration.issuer == issuer, LtiRegistration.client_id == client_id
        )
    ):
        raise LtiError("this issuer and client_id are already registered")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    registration = LtiRegistration(
        school_id=school.id,
        label=form.label.strip()[:120],
        issuer=issuer,
        client_id=client_id,
        auth_login_url=_url(form.auth_login_url, "auth_login_url"),
        key_set_url=_url(form.key_set_url, "key_set_url"),
        auth_token_url=_url(form.auth_token_url, "auth_token_url")
        if form.auth_token_url.strip()
        else "",
        deployment_ids=list(deployments),
        private_key=pem.decode(),
        key_id=secrets.token_hex(16),
        keep_names=form.keep_names,
    )
    s.add(registration)
    s.flush()
    return registration


def registrations(s: Session, school_id: int) -> list[LtiRegistration]:
    """The school's registrations, oldest first."""
    return list(
        s.scalars(
            select(LtiRegistration)
            .where(LtiRegistration.school_id == school_id)
            .order_by(LtiRegistration.id)
        )
    )


def delete_registration(s: Session, school_id: int, registration_id: int) -> bool:
    """Remove a registration of the school (its context mappings go; its users' accounts stay)."""
    registration = s.get(LtiRegistration, registration_id)
    if registration is None or registration.school_id != school_id:
        return False
    s.execute(delete(LtiContext).where(LtiContext.registration_id == registration.id))
    s.execute(delete(LtiUser).where(LtiUser.registration_id == registration.id))
    s.delete(registration)
    return True


def public_pem(registration: LtiRegistration) -> str:
    """The public half of the registration's key, as PEM."""
    key = serialization.load_pem_private_key(registration.private_key.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def tool_jwks(s: Session) -> dict[str, list[dict[str, Any]]]:
    """The tool's public keys, one per registration (platforms verify deep-linking responses with
    them).
    """
    keys = []
    for registration in s.scalars(select(LtiRegistration).order_by(LtiRegistration.id)):
        jwk = dict(Registration.get_jwk(public_pem(registration)))
        jwk["kid"] = registration.key_id
        keys.append(jwk)
    return {"keys": keys}


class _ToolRegistration(Registration):
    """pylti1p3's registration with Kateder's key id (its own derives none from a PEM)."""

    def __init__(self, row: LtiRegistration) -> None:
        self.row_id, self.school_id, self.keep_names, self._key_id = (
            row.id,
            row.school_id,
            row.keep_names,
            row.key_id,
        )
        (
            self.set_issuer(row.issuer)
            .set_client_id(row.client_id)
            .set_auth_login_url(row.auth_login_url)
            .set_auth_token_url(row.auth_token_url)
            .set_key_set_url(row.key_set_url)
            .set_tool_private_key(row.private_key)
            .set_tool_public_key(public_pem(row))
        )

    def get_kid(self) -> str:
        """The ``kid`` of the tool's key in ``/lti/jwks``."""
        return self._key_id


class ToolConfig(ToolConfAbstract):
    """pylti1p3's tool configuration, read from ``lti_registrations`` (one issuer may have many
    client ids).
    """

    def __init__(self, db_session: DbSession) -> None:
        """``db_session``: a context manager factory yielding a database session."""
        super().__init__()
        self._session = db_session

    def check_iss_has_one_client(self, iss: str) -> bool:
        """Never: registrations are looked up by issuer and client id."""
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        """Always (see :meth:`check_iss_has_one_client`)."""
        return True

    def _row(self, iss: str, client_id: str | None) -> LtiRegistration | None:
        with self._session() as s:
            query = select(LtiRegistration).where(LtiRegistration.issuer == iss)
            if client_id:
                return s.scalar(query.where(LtiRegistration.client_id == client_id))
            rows = list(s.scalars(query.limit(2)))
            return rows[0] if len(rows) == 1 else None  # no client_id: only an unambiguous issuer

    def find_registration_by_issuer(self, iss: str, *args, **kwargs) -> Registration | None:
        """The issuer's only registration."""
        row = self._row(iss, None)
        return _ToolRegistration(row) if row else None

    def find_registration_by_params(
        self, iss: str, client_id: str, *args, **kwargs
    ) -> Registration | None:
        """The registration of ``iss`` and ``client_id`` (without a client id: the issuer's only
        one).
        """
        row = self._row(iss, client_id)
        return _ToolRegistration(row) if row else None

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        """Not used: see :meth:`find_deployment_by_params`."""
        return self.find_deployment_by_params(iss, deployment_id, None)

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str | None, *args, **kwargs
    ) -> Deployment | None:
        """The deployment if the registration lists it."""
        row = self._row(iss, client_id)
        if row is None or deployment_id not in (row.deployment_ids or []):
            return None
        return Deployment().set_deployment_id(deployment_id)

    def registration_row(self, iss: str, client_id: str) -> LtiRegistration | None:
        """The database row of a registration."""
        return self._row(iss, client_id)


# -- launch state -------------------------------------------------------------------------


class LaunchStore(LaunchDataStorage):
    """pylti1p3's launch data in ``lti_launch_state``, keyed by a per-browser id in its
    own cookie.
    """

    def __init__(self, db_session: DbSession) -> None:
        """``db_session``: a context manager factory yielding a database session."""
        super().__init__()
        self._session = db_session

    def can_set_keys_expiration(self) -> bool:
        """Every row expires."""
        return True

    def get_value(self, key: str) -> Any:
        """The live value under ``key``, or None."""
        with self._session() as s:
            row = s.scalar(
                select(LtiLaunchState).where(
                    LtiLaunchState.key == self._prepare_key(key),
                    LtiLaunchState.expires_at > utcnow(),
                )
            )
            return row.value if row else None

    def set_value(self, key: str, value: Any, exp: int | None = None) -> None:
        """Store ``value`` for ``exp`` seconds (and drop expired rows)."""
        now = utcnow()
        with self._session() as s:
            s.execute(delete(LtiLaunchState).where(LtiLaunchState.expires_at <= now))
            s.merge(
                LtiLaunchState(
                    key=self._prepare_key(key),
                    value=value,
                    expires_at=now + timedelta(seconds=exp or STATE_LIFETIME),
                )
            )

    def check_value(self, key: str) -> bool:
        """Whether a live value is stored under ``key``."""
        return self.get_value(key) is not None

    def take_value(self, key: str) -> bool:
        """Delete the live value under ``key``; True only for the one caller that deleted it."""
        with self._session() as s:
            result = s.execute(
                delete(LtiLaunchState).where(
                    LtiLaunchState.key == self._prepare_key(key),
                    LtiLaunchState.expires_at > utcnow(),
                )
            )
            return rowcount(result) == 1


class SingleUseNonces(SessionService):
    """pylti1p3's session service whose nonce check consumes the nonce: a replayed id_token is
    refused.
    """

    def check_nonce(self, nonce: str) -> bool:
        """True once per nonce issued at login initiation."""
        storage = self.data_storage
        if not isinstance(storage, LaunchStore):
            raise TypeError("SingleUseNonces needs a LaunchStore")
        return storage.take_value(self._get_key("nonce", nonce))


# -- who and what a launch is ---------------------------------------------------------------


def mapped_role(claims: Mapping[str, Any]) -> str | None:
    """The Kateder role of the launch's context roles (the highest), or None."""
    roles = claims.get(CLAIM + "roles") or []
    granted = [ROLE_MAP[r] for r in roles if isinstance(r, str) and r in ROLE_MAP]
    return max(granted, key=_RANK.__getitem__) if granted else None


def _language(claims: Mapping[str, Any]) -> str | None:
    locale = (claims.get(CLAIM + "launch_presentation") or {}).get("locale") or ""
    lang = str(locale).replace("_", "-").split("-")[0].lower()
    return {"no": "nb", "nn": "nb"}.get(lang, lang) if lang else None


def launch_user(
    s: Session, registration: LtiRegistration, claims: Mapping[str, Any]
) -> LaunchResult:
    """The pseudonymous account of the launch's ``sub`` (created on first launch), with its role
    from the launch.
    """
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.strip():
        return LaunchResult(reason="no_sub")  # an anonymous launch: Kateder needs someone to answer
    role = mapped_role(claims)
    if role is None:
        return LaunchResult(reason="role_not_mapped")
    link = s.scalar(
        select(LtiUser).where(LtiUser.registration_id == registration.id, LtiUser.sub == sub)
    )
    name = (
        claims.get("name")
        if registration.keep_names and isinstance(claims.get("name"), str)
        else None
    )
    if link is None:
        school = s.get_one(School, registration.school_id)
        lang = _language(claims)
        created = accounts.create_user(
            s,
            school,
            f"lti-{secrets.token_hex(8)}",
            secrets.token_urlsafe(32),
            role,
            display_name=name[:120] if name else None,
            **({"language": lang} if lang in LANGUAGES else {}),
        )
        s.add(LtiUser(registration_id=registration.id, sub=sub[:255], user_id=created.id))
        s.flush()
        return LaunchResult(user=created, role=role, created=True)
    user = s.get(User, link.user_id)
    if user is None or not user.active:
        return LaunchResult(reason="inactive")
    if name:
        user.display_name = name[:120]
    if user.role != role and user.role in _RANK:
        old = user.role
        accounts.set_role(s, user, role)
        return LaunchResult(user=user, role=role, role_changed_from=old)
    return LaunchResult(user=user, role=role)


def _course_by_code(s: Session, registration: LtiRegistration, code: Any) -> Course | None:
    if not isinstance(code, str) or not code:
        return None
    return s.scalar(
        select(Course).where(Course.code == code, Course.school_id == registration.school_id)
    )


def context_id(claims: Mapping[str, Any]) -> str | None:
    """The LMS course the launch comes from."""
    value = (claims.get(CLAIM + "context") or {}).get("id")
    return str(value)[:255] if value else None


def place_course(
    s: Session, registration: LtiRegistration, context: str | None, course: Course
) -> None:
    """Map the LMS context to ``course`` unless it is mapped already."""
    if context and not s.scalar(
        select(LtiContext.id).where(
            LtiContext.registration_id == registration.id, LtiContext.context_id == context
        )
    ):
        s.add(LtiContext(registration_id=registration.id, context_id=context, course_id=course.id))
        s.flush()


def launch_course(
    s: Session, registration: LtiRegistration, claims: Mapping[str, Any]
) -> Course | None:
    """The course a resource launch opens: the deep-linked ``kateder_course``, else the context's
    course.
    """
    custom = claims.get(CLAIM + "custom") or {}
    course = _course_by_code(s, registration, custom.get(COURSE_PARAM))
    context = context_id(claims)
    if course is not None:
        place_course(s, registration, context, course)
        return course
    if context is None:
        return None
    course_id = s.scalar(
        select(LtiContext.course_id).where(
            LtiContext.registration_id == registration.id, LtiContext.context_id == context
        )
    )
    return s.get(Course, course_id) if course_id else None


def enrol(s: Session, user: User, course: Course, role: str) -> None:
    """Enrol the launch's user in the course with the launch's role."""
    enrolment = accounts.enrol(s, user, course, role)
    enrolment.role = role


def resolve_launch(
    s: Session, registration: LtiRegistration, claims: Mapping[str, Any]
) -> LaunchResult:
    """A verified resource launch: the account, the course (enrolled), or the reason for refusing.

    A student needs a course (the context must have been placed by deep linking); a teacher
    without one still signs in (to place one).
    """
    who = launch_user(s, registration, claims)
    if who.user is None:
        return who
    course = launch_course(s, registration, claims)
    if course is None and who.role == "student":
        return LaunchResult(reason="no_course", role=who.role)
    if course is not None:
        enrol(s, who.user, course, who.role)  # type: ignore[arg-type]  # launch_user gives every user a role
    return LaunchResult(
        user=who.user,
        course=course,
        role=who.role,
        created=who.created,
        role_changed_from=who.role_changed_from,
    )


def courses_to_place(s: Session, registration: LtiRegistration) -> list[Course]:
    """The courses an instructor may place through deep linking: those of the
    registration's school.
    """
    return list(
        s.scalars(
            select(Course).where(Course.school_id == registration.school_id).order_by(Course.title)
        )
    )


def place_by_deep_link(
    s: Session, registration: LtiRegistration, claims: Mapping[str, Any], code: str
) -> LaunchResult:
    """An instructor picked ``code`` in a deep-linking launch: enrol them as its teacher and map the
    context.
    """
    if mapped_role(claims) != "teacher":
        return LaunchResult(reason="not_instructor")
    course = _course_by_code(s, registration, code)
    if course is None:
        return LaunchResult(reason="unknown_course")
    who = launch_user(s, registration, claims)
    if who.user is None:
        return who
    place_course(s, registration, context_id(claims), course)
    enrol(s, who.user, course, "teacher")
    return LaunchResult(user=who.user, course=course, role="teacher", created=who.created)

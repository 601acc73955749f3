"""The DPO's access log: who did what, and whose data it concerned, kept apart.

An audit event names one pseudonymous subject. For most events that is the person who
acted (a sign-in, a policy change); for a data-subject request it is the person the data
belongs to, so the officer who handled it is recorded in the details (``actor``,
``actor_role``, ``data_subject``; since issue 16). Events written before that only say
``handled_by`` (a username, ``cli`` or ``teacher``): the actor is derived from it, from a
teacher's ``student_removed`` event for the same subject, or shown as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from core.models import AuditEvent, Course, User

ACCESS_ACTIONS = (
    "login",
    "logout",
    "admin_view",
    "audit_export",
    "dsar_export",
    "erasure",
    "student_removed",
    "retention_change",
    "retention_purge",
    "dpo_contact_changed",
    "students_created",
    "policy_changed",
    "review",
)
DSAR_ACTIONS = ("dsar_export", "erasure")
SYSTEM_ACTIONS = ("retention_purge",)  # done by Kateder itself on a schedule
# where an event that is about someone else's data names that person (a detail key, or the event's
# own subject)
SUBJECT_OF = {
    "admin_view": "student",
    "student_removed": "subject",
    "dsar_export": None,
    "erasure": None,
}
STAFF_ROLES = ("teacher", "admin", "dpo")


@dataclass(frozen=True)
class Actor:
    """Who did it: a person (by pseudonym, with their name when they are staff), the operator,
    Kateder, or unknown.
    """

    kind: str = "unknown"  # person | operator | system | unknown
    pseudonym: str | None = None
    role: str | None = None
    name: str | None = None


UNKNOWN = Actor()
OPERATOR = Actor("operator")  # the command line on the server
SYSTEM = Actor("system")


@dataclass(frozen=True)
class ActivityRow:
    """One line of the access log."""

    seq: int
    ts: datetime
    action: str
    actor: Actor
    subject: str | None = None  # the pseudonym of the person whose data it concerned
    course: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Directory:
    """The school's staff by pseudonym and by username, and teachers' removals by removed
    subject.
    """

    by_pseudonym: dict[str, User]
    by_username: dict[str, User]
    removals: dict[str, AuditEvent]

    def person(self, pseudonym: str | None, role: str | None) -> Actor:
        """A person by pseudonym: named when they are staff of the school."""
        if not pseudonym:
            return UNKNOWN
        user = self.by_pseudonym.get(pseudonym)
        name = (user.display_name or user.username) if user is not None else None
        return Actor("person", pseudonym, role or (user.role if user is not None else None), name)


def _dsar_actor(ev: AuditEvent, people: _Directory, pseudonym) -> Actor:
    """The officer behind a data-subject export or erasure, recorded or derived."""
    d = ev.details or {}
    if d.get("actor"):
        return people.person(d["actor"], d.get("actor_role"))
    handled_by = str(d.get("handled_by") or "")
    if handled_by == "cli" or d.get("actor_role") == "operator":
        return OPERATOR
    removal = people.removals.get(ev.subject or "")
    if (
        handled_by == "teacher" and removal is not None
    ):  # the teacher panel's "Remove": the teacher's own event
        return people.person(removal.subject, removal.role)
    user = people.by_username.get(handled_by)
    if user is not None:  # the DPO panel recorded the officer's username
        return people.person(pseudonym(user.id), user.role)
    return UNKNOWN


def _actor(ev: AuditEvent, people: _Directory, pseudonym) -> Actor:
    """Who did what this event records."""
    if ev.action in DSAR_ACTIONS:
        return _dsar_actor(ev, people, pseudonym)
    if ev.action in SYSTEM_ACTIONS:
        return SYSTEM
    if ev.subject is None:
        return OPERATOR if (ev.details or {}).get("requested_by") == "cli" else UNKNOWN
    return people.person(ev.subject, ev.role)


def _subject(ev: AuditEvent) -> str | None:
    """The person whose data the event concerned, when that is someone other than the actor."""
    if ev.action not in SUBJECT_OF:
        return None
    key = SUBJECT_OF[ev.action]
    return ev.subject if key is None else (ev.details or {}).get(key)


def _directory(s, services, school_id: int | None, subjects: set[str]) -> _Directory:
    """Staff of the school and the teachers' removals of ``subjects``."""
    pseudonym = services.audit.pseudonymizer.subject
    staff = list(
        s.scalars(select(User).where(User.school_id == school_id, User.role.in_(STAFF_ROLES)))
    )
    removals: dict[str, AuditEvent] = {}
    if subjects:
        for ev in s.scalars(
            select(AuditEvent).where(
                AuditEvent.school_id == school_id, AuditEvent.action == "student_removed"
            )
        ):
            removed = (ev.details or {}).get("subject")
            if removed in subjects:
                removals.setdefault(removed, ev)
    return _Directory({pseudonym(u.id): u for u in staff}, {u.username: u for u in staff}, removals)


def activity(services, school_id: int | None, *, limit: int = 200) -> list[ActivityRow]:
    """Sign-ins, exports, erasures and settings changes of one school, newest first, with actor and
    subject.
    """
    with services.db.session() as s:
        events = list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.school_id == school_id, AuditEvent.action.in_(ACCESS_ACTIONS))
                .order_by(AuditEvent.ts.desc(), AuditEvent.id.desc())
                .limit(limit)
            )
        )
        people = _directory(
            s,
            services,
            school_id,
            {ev.subject for ev in events if ev.action == "erasure" and ev.subject},
        )
        courses = dict(
            s.execute(select(Course.id, Course.code).where(Course.school_id == school_id)).all()
        )
        pseudonym = services.audit.pseudonymizer.subject
        return [
            ActivityRow(
                seq=ev.seq,
                ts=ev.ts,
                action=ev.action,
                actor=_actor(ev, people, pseudonym),
                subject=_subject(ev),
                course=courses.get(ev.course_id) if ev.course_id else None,
                details=dict(ev.details or {}),
            )
            for ev in events
        ]

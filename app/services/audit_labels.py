"""Readable names for audit events and their details, translated through Babel.

A data-driven table (action -> label, detail key -> label, detail value -> label), used by
the DPO's access log, the DPIA report and the readable data-subject export. ``tr`` is any
``str -> str`` translation function: ``flask_babel.gettext`` in a web view,
:class:`app.services.i18n.Translator` elsewhere. Unknown actions and values are shown as
they are recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app.services.i18n import N_

Translate = Callable[[str], str]

EVENT_LABELS: dict[str, str] = {
    "login": N_("Signed in"),
    "logout": N_("Signed out"),
    "login_failed": N_("Sign-in failed"),
    "sessions_revoked": N_("Signed out everywhere"),
    "password_changed": N_("Password changed"),
    "token_revoked": N_("API token revoked"),
    "user_created": N_("Account created"),
    "role_changed": N_("Role changed"),
    "admin_view": N_("Opened a student's conversation"),
    "audit_export": N_("Downloaded the audit export"),
    "dsar_export": N_("Exported a person's data"),
    "erasure": N_("Erased a person's data"),
    "student_removed": N_("Removed a student"),
    "retention_change": N_("Changed a retention period"),
    "retention_purge": N_("Deleted data past its retention period"),
    "dpo_contact_changed": N_("Changed the DPO contact"),
    "students_created": N_("Created student accounts"),
    "policy_changed": N_("Changed a course's safety policy"),
    "review": N_("Reviewed a flagged message"),
    "course_created": N_("Created a course"),
    "course_archived": N_("Archived a course"),
    "course_restored": N_("Restored a course"),
    "join_course": N_("Joined a course"),
    "question": N_("Asked a question"),
    "answer": N_("Received an answer"),
    "refusal": N_("Received no answer (declined by the safety check)"),
    "answer_failed": N_("The answer failed"),
    "feedback": N_("Rated an answer"),
    "rename_conversation": N_("Renamed a conversation"),
    "delete_conversation": N_("Deleted a conversation"),
    "upload": N_("Uploaded a file"),
    "upload_rejected": N_("An upload was refused"),
    "upload_cancelled": N_("Cancelled an upload"),
    "delete_document": N_("Deleted a document"),
    "release_passage": N_("Released a held passage"),
    "reject_passage": N_("Rejected a held passage"),
    "lti_registration_added": N_("Registered a learning platform"),
    "lti_registration_deleted": N_("Removed a learning platform"),
}

# the same msgids as the browser's labels (app/web/filters.py), so they are translated once
ROLE_LABELS: dict[str, str] = {
    "student": N_("Student"),
    "teacher": N_("Teacher"),
    "admin": N_("Admin"),
    "dpo": N_("Data protection officer"),
}
RETENTION_LABELS: dict[str, str] = {
    "conversation_text": N_("Question and answer text"),
    "conversations": N_("Conversation records without text"),
    "audit_details": N_("Audit event details"),
    "audit_events": N_("Audit events"),
    "access_log": N_("Access log and data-subject requests"),
    "exports": N_("Export files"),
}

# detail key -> label; only these keys are shown (the rest stay in the audit export)
DETAIL_LABELS: dict[str, str] = {
    "method": N_("Sign-in method"),
    "by": N_("By"),
    "reason": N_("Reason"),
    "count": N_("Number"),
    "category": N_("Category"),
    "from_days": N_("Days before"),
    "to_days": N_("Days now"),
    "decision": N_("Decision"),
    "daily_question_limit": N_("Questions per day"),
    "conversation_id": N_("Conversation"),
    "request_id": N_("Request"),
    "from": N_("From"),
    "to": N_("To"),
    "dpo_contact": N_("DPO contact"),
}
# detail key -> recorded value -> label (a value like "oidc:3" is looked up by "oidc")
DETAIL_VALUES: dict[str, dict[str, str]] = {
    "method": {
        "password": N_("password"),
        "password_change": N_("password (when changing it)"),
        "oidc": N_("school account (single sign-on)"),
        "lti": N_("learning platform"),
        "api_token": N_("API token"),
    },
    "by": {
        "self": N_("the person themselves"),
        "teacher": N_("a teacher"),
        "admin": N_("an administrator"),
        "oidc": N_("school account (single sign-on)"),
        "lti": N_("learning platform"),
    },
    "decision": {"false_positive": N_("false positive"), "confirmed": N_("confirmed")},
    "category": RETENTION_LABELS,
}


def event_label(action: str, tr: Translate) -> str:
    """The translated name of an audit action (the action itself when it has none)."""
    label = EVENT_LABELS.get(action)
    return tr(label) if label else action


def role_label(role: str | None, tr: Translate) -> str:
    """The translated name of a role; empty for None."""
    if not role:
        return ""
    label = ROLE_LABELS.get(role)
    return tr(label) if label else role


def _value(key: str, value: Any, tr: Translate) -> str:
    """One detail value: a translated label where the table has one, else the value as text."""
    table = DETAIL_VALUES.get(key, {})
    text = str(value)
    label = table.get(text) or table.get(text.split(":", 1)[0])
    if label:
        return tr(label)
    if key in ("from", "to") and len(text) >= 10:
        return text[:10]  # the period of an audit export: its days
    return text


def detail_items(details: Mapping[str, Any] | None, tr: Translate) -> list[tuple[str, str]]:
    """The shown details of an event as translated ``(label, value)`` pairs, in
    :data:`DETAIL_LABELS` order.
    """
    details = details or {}
    return [
        (tr(label), _value(key, details[key], tr))
        for key, label in DETAIL_LABELS.items()
        if details.get(key) not in (None, "", {}, [])
    ]

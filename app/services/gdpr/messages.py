"""What the data-protection use cases tell the user, and their errors (part of core/errors.py's
hierarchy).
"""

from __future__ import annotations

from typing import Any

from app.services.i18n import N_, Translator
from core.errors import Forbidden, KatederError, NotFound, UserError

# Translated through the Babel catalogues (app/services/i18n.py) in the language of the person
# who reads them (the actor's, or the data subject's for an export), not the request's.
_MESSAGES: dict[str, str] = {
    "reason_required": N_(
        "Write down why you need to open this student's conversation (at least %(n)s characters)."
    ),
    "not_allowed": N_("You may not open this conversation."),
    "no_conversation": N_("There is no such conversation."),
    "no_user": N_("There is no user %(ref)s."),
    "text_erased": N_("[text erased]"),
}


def message(key: str, language: str | None = "en", **values: Any) -> str:
    """A user-facing message of the data-protection use cases in the user's language."""
    return Translator.for_language(language)(_MESSAGES[key], **values)


# The name the CLI and the teacher's view catch: the root of the one hierarchy, so a
# data-protection operation's user-facing errors (below) and those of what it calls pass.
GdprError = KatederError


class ReasonRequired(UserError):
    """Opening a student's conversation needs a written reason."""

    code = "reason_required"


class AccessDenied(Forbidden):
    """The actor may not see this student's data."""


class SubjectNotFound(NotFound):
    """No such user or conversation."""

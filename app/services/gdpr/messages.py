"""What the data-protection use cases tell the user, and their errors (part of core/errors.py's hierarchy)."""

from __future__ import annotations

from typing import Any

from core.errors import Forbidden, KatederError, NotFound, UserError
from guard.policy import language_code

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


def message(key: str, language: str | None = "en", **values: Any) -> str:
    """A user-facing message of the data-protection use cases in the user's language."""
    table = _MESSAGES[key]
    return table.get(language_code(language), table["en"]).format(**values)


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

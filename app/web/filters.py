"""Template helpers: citation markers as buttons, translated labels."""

from __future__ import annotations

import re
from datetime import datetime

from flask import Flask
from flask_babel import format_date, get_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from guard.policy import HELPLINE_CHATS, HELPLINES
from guard.taxonomy import CATEGORIES, plain_categories

_MARKER = re.compile(r"\[(\d{1,2})\]")

ACTION_LABELS = {
    "allow": _l("Allow"),
    "care": _l("Answer with care"),
    "block": _l("Block"),
    "alert": _l("Block and alert the teacher"),
    "crisis": _l("Crisis"),
    "report": _l("Reported by a student"),
    "error": _l("Error"),
}
STATUS_LABELS = {
    "pending": _l("Waiting"),
    "indexing": _l("Processing"),
    "ready": _l("Ready"),
    "held": _l("Passages held for review"),
    "failed": _l("Failed"),
    "indexed": _l("Visible"),
    "rejected": _l("Rejected"),
}
RETENTION_LABELS = {
    "conversation_text": _l("Question and answer text"),
    "conversations": _l("Conversation records without text"),
    "audit_details": _l("Audit event details"),
    "audit_events": _l("Audit events"),
    "access_log": _l("Access log and data-subject requests"),
    "exports": _l("Export files"),
}
ROLE_LABELS = {
    "student": _l("Student"),
    "teacher": _l("Teacher"),
    "admin": _l("Admin"),
    "dpo": _l("Data protection officer"),
}


def cite(text: str | None, citations: list | None = None) -> Markup:
    """Escape ``text`` and turn ``[n]`` markers that have a citation into dialog buttons."""
    numbers = {int(c.get("number", 0)) for c in citations or []}
    out = str(escape(text or ""))

    def button(m: re.Match) -> str:
        n = int(m.group(1))
        if n not in numbers:
            return m.group(0)
        return (
            f'<button type="button" class="cite" data-cite="{n}" '
            f'aria-label="{escape(_l("Source"))} {n}">{n}</button>'
        )

    return Markup(_MARKER.sub(button, out))


EMERGENCY_NUMBER = "112"


def crisis_links(text: str | None) -> Markup:
    """Escape a crisis message and make its helpline numbers tap-to-call links."""
    out = str(escape(text or ""))
    numbers = sorted(
        {number for _, number in HELPLINES.values()} | {EMERGENCY_NUMBER}, key=len, reverse=True
    )
    pattern = re.compile(r"(?<![\d>])(" + "|".join(re.escape(n) for n in numbers) + r")(?![\d<])")
    return Markup(
        pattern.sub(lambda m: f'<a href="tel:{m.group(1).replace(" ", "")}">{m.group(1)}</a>', out)
    )


def helpline_chats(text: str | None) -> list[tuple[str, str]]:
    """The (name, address) of each helpline chat whose helpline the message names."""
    return [(name, url) for name, url in HELPLINE_CHATS.items() if name in (text or "")]


def short_date(value: datetime | None) -> str:
    """A day and month in the user's language (e.g. "3 dec."), for lists of conversations."""
    return format_date(value, "d MMM") if value is not None else ""


def category_label(code: str) -> str:
    """The plain-language name of a hazard category in the user's language
    (``guard/categories.json``, as on the policy page: "Hate against groups of people", not
    "S10"); anything else as it is.
    """
    return plain_categories(str(get_locale() or "en"))[code].name if code in CATEGORIES else code


def category_example(code: str) -> str:
    """The example of a hazard category in the user's language (empty for anything else)."""
    return plain_categories(str(get_locale() or "en"))[code].example if code in CATEGORIES else ""


def init_app(app: Flask) -> None:
    """Register filters and globals."""
    app.jinja_env.filters["cite"] = cite
    app.jinja_env.filters["category"] = category_label
    app.jinja_env.filters["category_example"] = category_example
    app.jinja_env.filters["shortdate"] = short_date
    app.jinja_env.filters["crisis_links"] = crisis_links
    app.jinja_env.globals["helpline_chats"] = helpline_chats
    app.jinja_env.globals["HELPLINE_CHATS"] = HELPLINE_CHATS
    app.jinja_env.globals.update(
        ACTION_LABELS=ACTION_LABELS,
        STATUS_LABELS=STATUS_LABELS,
        ROLE_LABELS=ROLE_LABELS,
        RETENTION_LABELS=RETENTION_LABELS,
    )

"""The readable page of a data-subject export: plain language a parent can follow, in the school's
language.

Written beside ``data.json`` (the complete, machine-readable copy) as ``index.html``: one
self-contained, printable page. The template is ``app/templates/subject/export.html``; it is
rendered outside Flask (the CLI writes exports too) with Jinja's i18n extension over the
same catalogues as the browser, so its strings are checked by the translation tests.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.services.audit_labels import RETENTION_LABELS, event_label, role_label
from app.services.i18n import TRANSLATIONS_DIR, Translator, school_language

TEMPLATES_DIR = TRANSLATIONS_DIR.parent / "templates"
# the safety check's decisions as the browser names them (app/web/filters.py ACTION_LABELS: same
# msgids)
DECISIONS = {
    "care": "Answer with care",
    "block": "Block",
    "alert": "Block and alert the teacher",
    "crisis": "Crisis",
}


@cache
def _environment(language: str) -> Environment:
    """A Jinja environment translating into ``language`` (one per language, built once)."""
    tr = Translator.for_language(language)
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
    )
    # jinja2.ext.i18n adds install_gettext_callables to the Environment at run time (not in its
    # types)
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=tr, ngettext=lambda s, p, n: tr(s if n == 1 else p), newstyle=True
    )
    env.globals.update(
        event_label=lambda action: event_label(action, tr),
        role_label=lambda role: role_label(role, tr),
        retention_label=lambda category: (
            tr(RETENTION_LABELS[category]) if category in RETENTION_LABELS else category
        ),
        decision_label=lambda action: tr(DECISIONS[action]) if action in DECISIONS else "",
        when=tr.datetime,
        day=tr.date,
    )
    return env


def render_subject_html(data: dict[str, Any], language: str | None = None) -> str:
    """The export ``data`` (:meth:`app.services.gdpr.Gdpr.export_subject`) as one printable HTML
    page.

    ``language`` defaults to the school's (from its country, see :func:`school_language`).
    """
    lang = Translator.for_language(language or school_language(data.get("school_country"))).language
    return _environment(lang).get_template("subject/export.html").render(d=data, lang=lang)

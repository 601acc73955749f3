"""Text that the services write themselves, in the school's language, outside any web request.

The DPIA report and the readable data-subject export are written by the CLI as well as by
the web, so they cannot use Flask-Babel's request locale. They use the same catalogues
(``app/translations/<lang>/LC_MESSAGES/messages.mo``) through Babel directly: a string is
marked with :func:`N_` where it is defined (a table of texts) and translated with a
:class:`Translator` where it is written. ``pybabel extract`` finds ``N_`` and ``_`` marks
(``app/translations/babel.cfg`` lists the service modules).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from babel import dates
from babel.support import NullTranslations, Translations

from guard.policy import language_code

TRANSLATIONS_DIR = Path(__file__).resolve().parents[1] / "translations"
# the language a school's documents are written in, by the school's country (anything else: English)
COUNTRY_LANGUAGES = {"SE": "sv", "NO": "nb", "DE": "de", "AT": "de", "CH": "de", "IT": "it"}


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    """Mark ``message`` for translation where it is defined; :class:`Translator` translates it where
    it is written.
    """
    return message


def school_language(country: str | None) -> str:
    """The language of the school's documents: from its country, English when Kateder has none for
    it.
    """
    return COUNTRY_LANGUAGES.get((country or "").upper(), "en")


@cache
def _catalogue(language: str) -> NullTranslations:
    """The compiled catalogue of one language (loaded once per process)."""
    return Translations.load(str(TRANSLATIONS_DIR), [language], domain="messages")


@dataclass(frozen=True)
class Translator:
    """``tr("Hello %(name)s", name=...)`` in one language, plus dates in that language's style."""

    language: str = "en"

    @classmethod
    def for_language(cls, language: str | None) -> Translator:
        """A translator for a language tag (``nb-NO``, ``no`` and ``nb`` are the same)."""
        return cls(language_code(language))

    def __call__(self, message: str, **values: Any) -> str:
        """The translation of ``message`` (itself when it has none), with ``%(name)s`` fields filled
        in.
        """
        if not message:
            return message
        text = _catalogue(self.language).gettext(message)
        return text % values if values else text

    def date(self, value: datetime | date | str | None, style: str = "long") -> str:
        """A day in this language (``3 december 2026``); empty for None."""
        day = _parse(value)
        return dates.format_date(day, style, locale=self.language) if day is not None else ""

    def datetime(self, value: datetime | str | None, style: str = "medium") -> str:
        """A UTC time in this language's style; empty for None."""
        moment = _parse(value)
        if moment is None:
            return ""
        if not isinstance(moment, datetime):
            return dates.format_date(moment, style, locale=self.language)
        return dates.format_datetime(moment, style, tzinfo=UTC, locale=self.language)


def _parse(value: datetime | date | str | None) -> datetime | date | None:
    """A datetime from an ISO string (naive values are UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if value else None
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value

"""Every user-facing string of the browser is translated into sv, de, it, nb and en."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

APP = Path(__file__).resolve().parents[2] / "app"
TRANSLATIONS = APP / "translations"
LANGUAGES = ("en", "sv", "de", "it", "nb")


def _extracted() -> set:
    """The msgids in the code and templates now (as ``pybabel extract`` with babel.cfg finds
    them)."""
    method_map = [
        ("web/**.py", "python"),
        ("templates/**.html", "jinja2"),
        ("services/dpia/**.py", "python"),
        ("services/audit_labels.py", "python"),
        ("services/model_inventory.py", "python"),
        # the per-language tables moved into the catalogues (docs/ui.md, "Languages")
        ("services/alerts.py", "python"),
        ("services/gdpr/messages.py", "python"),
        ("services/answer.py", "python"),
        ("errors.py", "python"),
        ("generation.py", "python"),
    ]
    keywords = {
        "_": None,
        "gettext": None,
        "ngettext": (1, 2),
        "_l": None,
        "lazy_gettext": None,
        "N_": None,
    }
    found = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(APP), method_map=method_map, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else tuple(message))
    return found


def test_template_is_up_to_date_with_the_code():
    pot = {m.id for m in read_po((TRANSLATIONS / "messages.pot").open("rb")) if m.id}
    missing = _extracted() - pot
    assert not missing, (
        f"run pybabel extract/update (docs/ui.md): new strings {sorted(map(str, missing))[:10]}"
    )


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_msgid_is_translated(lang):
    wanted = _extracted()
    po = {
        m.id: m
        for m in read_po((TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb"))
        if m.id
    }
    untranslated = [
        m
        for m in wanted
        if m not in po
        or not all(po[m].string if isinstance(po[m].string, tuple) else [po[m].string])
    ]
    fuzzy = [m for m, entry in po.items() if entry.fuzzy]
    assert not untranslated, f"{lang}: untranslated {sorted(map(str, untranslated))[:10]}"
    assert not fuzzy, f"{lang}: fuzzy {fuzzy[:10]}"
    # the committed .mo matches the .po, so no build step is needed at install
    mo = {
        _key(m.id): _key(m.string)
        for m in read_mo((TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo").open("rb"))
        if m.id
    }
    assert {_key(k): _key(v.string) for k, v in po.items()} == mo, (
        f"{lang}: messages.mo is stale; run pybabel compile"
    )


def _key(value):
    return tuple(value) if isinstance(value, list | tuple) else value


def test_placeholders_survive_translation():
    import re

    field = re.compile(r"%\((\w+)\)[sd]")
    for lang in LANGUAGES:
        for m in read_po((TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb")):
            if not m.id:
                continue
            ids = m.id if isinstance(m.id, tuple) else (m.id,)
            strings = m.string if isinstance(m.string, tuple) else (m.string,)
            expected = set(field.findall(ids[-1]))
            for s in strings:
                assert set(field.findall(s)) <= expected | set(field.findall(ids[0])) and set(
                    field.findall(s)
                ) >= set(field.findall(ids[0])) - {"num"}, (lang, m.id, s)

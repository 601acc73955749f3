"""The MLCommons hazard taxonomy (S1-S14) as used by Llama Guard 3."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

CATEGORIES: dict[str, str] = {
    "S1": "Violent Crimes",
    "S2": "Non-Violent Crimes",
    "S3": "Sex-Related Crimes",
    "S4": "Child Sexual Exploitation",
    "S5": "Defamation",
    "S6": "Specialized Advice",
    "S7": "Privacy",
    "S8": "Intellectual Property",
    "S9": "Indiscriminate Weapons",
    "S10": "Hate",
    "S11": "Suicide & Self-Harm",
    "S12": "Sexual Content",
    "S13": "Elections",
    "S14": "Code Interpreter Abuse",
}

SELF_HARM = "S11"


# -- plain-language names for people (the teacher's policy page) ---------------------------
CATEGORY_TEXTS_FILE = Path(__file__).with_name("categories.json")


@dataclass(frozen=True)
class CategoryText:
    """A hazard category as a teacher reads it: a plain name and one example of what it covers."""

    name: str
    example: str


@cache
def _category_texts() -> dict[str, dict[str, CategoryText]]:
    """``code -> language -> CategoryText`` from :data:`CATEGORY_TEXTS_FILE` (read once)."""
    data = json.loads(CATEGORY_TEXTS_FILE.read_text(encoding="utf-8"))["categories"]
    return {
        code: {lang: CategoryText(str(t["name"]), str(t["example"])) for lang, t in langs.items()}
        for code, langs in data.items()
    }


def plain_categories(language: str) -> dict[str, CategoryText]:
    """Every category in :data:`CATEGORIES` order with its plain name and example in
    ``language`` (else English)."""
    texts = _category_texts()
    lang = (language or "en").lower().replace("_", "-").split("-")[0]
    return {code: texts[code].get(lang) or texts[code]["en"] for code in CATEGORIES}

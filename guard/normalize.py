"""Text normalisation before classification, so spelling tricks do not get through.

Unicode NFKC (full-width and styled letters become plain ones), zero-width, bidi and other
invisible format characters removed, and letter/number substitutions inside words folded
("b0mb" -> "bomb", "k!ll" -> "kill", "$uicide" -> "suicide"). Plain numbers ("1945",
"3.14") are left alone.
"""

from __future__ import annotations

import re
import unicodedata

# Zero-width, joiners, bidi embeddings/overrides/isolates, BOM, soft hyphen, word joiner.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\u3164\ufeff\uffa0]"
)
_LEET = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "l",
        "€": "e",
    }
)
_WORD = re.compile(r"[\w@$!|€]+")
# Letters separated by single dots, dashes or spaces ("b.o.m.b", "k i l l") are rejoined.
_SPACED = re.compile(r"\b(?:\w[.\-_*] ?){3,}\w\b")


def _fold_word(match: re.Match[str]) -> str:
    word = match.group(0)
    has_alpha = any(c.isalpha() for c in word)
    has_sub = any(c in "0134578@$!|€" for c in word)
    if not (has_alpha and has_sub):
        return word
    core = word.rstrip("!")  # a trailing "!" is punctuation, not an "i"
    return core.translate(_LEET) + word[len(core) :]


def _join_spaced(match: re.Match[str]) -> str:
    return re.sub(r"[.\-_* ]", "", match.group(0))


def strip_invisible(text: str) -> str:
    """NFKC with zero-width, bidi and other format characters removed."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    return "".join(c for c in text if unicodedata.category(c) != "Cf")


def normalize(text: str) -> str:
    """NFKC, invisible characters removed, leetspeak folded, spaced-out words joined."""
    text = _SPACED.sub(_join_spaced, strip_invisible(text))
    return _WORD.sub(_fold_word, text)

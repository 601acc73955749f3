"""Index terms shared by every lexical backend: tokens, stopwords, Snowball stems, accent
folding."""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

from core.language import _STOP_SETS, detect_language

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_ALL_STOPWORDS = set().union(*_STOP_SETS.values())
_STEMMERS = {"en": "english", "sv": "swedish", "de": "german", "it": "italian", "nb": "norwegian"}
_FOLD = str.maketrans({"ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "ł": "l", "đ": "d", "þ": "th"})
_local = threading.local()


def words(text: str) -> list[str]:
    """Lower-cased word tokens, stopwords kept (the database engine removes its own)."""
    return _TOKEN.findall(text.lower())


def tokenize(text: str, language: str | None = None) -> list[str]:
    """Lower-cased word tokens without the stopwords of ``language`` (of all five if None).

    Stopwords are per language: one language's function word is another's content word
    (Italian "del" and "per", English "in" and "by" are Swedish "part", "per", "in", "village").
    """
    stops = _STOP_SETS.get(language, _ALL_STOPWORDS) if language else _ALL_STOPWORDS
    return [
        t for t in _TOKEN.findall(text.lower()) if t not in stops and (len(t) > 1 or t.isdigit())
    ]


def fold(token: str) -> str:
    """Strip accents and map ß, æ, ø... to ASCII-ish letters (å -> a, ü -> u)."""
    decomposed = unicodedata.normalize("NFKD", token.translate(_FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=500_000)
def _stem(language: str, token: str) -> str:
    stemmers = getattr(_local, "stemmers", None)
    if stemmers is None:
        import snowballstemmer

        stemmers = _local.stemmers = {
            lang: snowballstemmer.stemmer(name) for lang, name in _STEMMERS.items()
        }
    return stemmers[language].stemWord(token)


def terms(text: str, language: str | None = None, *, stem: bool = True) -> list[str]:
    """Index terms of ``text``: tokens without its language's stopwords, stemmed, folded.

    ``language`` is the text's language (detected if None or not one of the five).
    """
    lang = language if language in _STEMMERS else detect_language(text)
    tokens = tokenize(text, lang)
    if stem:
        tokens = [_stem(lang, t) for t in tokens]
    return [fold(t) for t in tokens]

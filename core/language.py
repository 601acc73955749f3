"""Language identification for Kateder's five languages (en, sv, de, it, nb).

A stopword and letter profile: fast, deterministic, dependency-free, and good enough for
choosing the answer language and the helpline; short texts fall back to a default.
"""

from __future__ import annotations

import re

LANGUAGES = ("en", "sv", "de", "it", "nb")
LANGUAGE_NAMES = {
    "en": "English",
    "sv": "Svenska",
    "de": "Deutsch",
    "it": "Italiano",
    "nb": "Norsk bokmål",
}

_STOPWORDS = {
    "en": (
        "the a an and or of to in is are was were what why how who when where which does do did "
        "can you i it this that with for on from be by as at not about their they he she his her"
    ).split(),
    "sv": (
        "och i att det som en ett är på för med av till den inte om har de jag vad hur varför vem "
        "när var vilken kan du sig han hon ska från eller också där vilka blev varit finns mycket"
    ).split(),
    "de": (
        "der die das und ist nicht ein eine zu den von mit sich des auf für im dem was wie warum "
        "wer wann wo welche kann ich du es sind war wurde auch an oder aus bei nach über"
    ).split(),
    "it": (
        "il lo la i gli le e è di che un una per non con del della sono come perché chi quando "
        "dove quale cosa può io tu si al dei nel anche ma più questo questa furono stato"
    ).split(),
    "nb": (
        "og i det som en et er på for med av til den ikke om har de jeg hva hvordan hvorfor hvem "
        "når hvor hvilken kan du seg han hun skal fra eller også der ble vært mye noe"
    ).split(),
}
_STOP_SETS = {lang: set(words) for lang, words in _STOPWORDS.items()}
# Further function words that tell the languages apart. They weigh in language
# identification only; retrieval keeps the stopword lists above (its stored terms depend
# on them).
_CUES = {
    "en": "has have had were will would which whose into than there been many much".split(),
    "sv": "vart sina dina mina fick efter mellan vilket även utan någon något".split(),
    "de": (
        "in viele wieviel hat haben hatte einen einem einer wird werden wurden zum zur sein seine "
        "seiner ihre ihr vom am um als wenn welcher welches welchen welchem gibt dieser diese"
    ).split(),
    "it": (
        "a gli d quanto quanta quanti quante dal dalla dai nella nelle sul sulla alla agli ha "
        "hanno era erano viene fu"
    ).split(),
    "nb": "hvilke hvilket fikk sine dine mine etter mellom uten noen hvor ikke var".split(),
}
_CUE_SETS = {lang: _STOP_SETS[lang] | set(words) for lang, words in _CUES.items()}
_LETTERS = {
    "sv": set("äö"),
    "nb": set("æø"),
    "de": set("ßü"),
    "it": set("àèéìòù"),
}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def _letter_words(text: str) -> list[str]:
    """The words whose letters count as evidence: not names.

    A capitalised word after the first is taken for a name ("Temüjin", "Müller") and its
    letters are left out, unless nothing else is left.
    """
    words = _WORD.findall(text)
    plain = [w for i, w in enumerate(words) if i == 0 or not w[:1].isupper()]
    return plain or words


def detect_language(text: str, default: str = "en") -> str:
    """The most likely of the five languages; ``default`` when there is no evidence."""
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return default
    scores: dict[str, float] = {
        lang: sum(w in cues for w in words) for lang, cues in _CUE_SETS.items()
    }
    letters = set("".join(_letter_words(text)).lower())
    for lang, marks in _LETTERS.items():
        if letters & marks:
            scores[lang] += 1.5
    if "å" in letters:
        scores["sv"] += 0.5
        scores["nb"] += 0.5
    best = max(scores, key=lambda lang: (scores[lang], lang == default))
    return best if scores[best] > 0 else default


def normalise_language(code: str | None, default: str = "en") -> str:
    """Map aliases (no, nn, nob, sv-SE...) onto the five supported codes."""
    if not code:
        return default
    code = code.lower().replace("_", "-").split("-")[0]
    code = {
        "no": "nb",
        "nob": "nb",
        "nn": "nb",
        "swe": "sv",
        "deu": "de",
        "ita": "it",
        "eng": "en",
    }.get(code, code)
    return code if code in LANGUAGES else default

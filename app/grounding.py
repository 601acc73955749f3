"""Grounding: every released sentence of a generated answer must be supported by a passage it cites.

Support is the share of a sentence's content terms (stemmed, accent-folded, as in BM25)
that occur in the passage; numbers count as terms. A sentence citing a passage that does
not support it is re-cited to the passage that does, or removed; an uncited sentence gets
the citation of its best supporting passage, or is removed. The threshold
(``GROUNDING_MIN_SUPPORT``) is measured in docs/retrieval.md. No model call is made.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.retrieval import RetrievedPassage, terms

CITATION = re.compile(r"\s*\[(\d{1,2})\]")
# words that carry no fact and are common in answers ("the text says...")
_FILLER = {
    "source",
    "sources",
    "text",
    "material",
    "course",
    "according",
    "answer",
    "question",
    "says",
    "said",
    "kalla",
    "kallan",
    "quelle",
    "fonte",
    "kilde",
    "kilden",
    "also",
    "bra",
    "gut",
    "bene",
    "godt",
}


@dataclass(frozen=True)
class Checked:
    """One sentence after the grounding check."""

    text: str  # with its citations (fixed or added); the original when unsupported
    supported: bool
    cited: tuple[int, ...]  # passage numbers (1-based) the released text cites
    score: float  # support by the best cited passage
    changed: bool = False  # citations were added or corrected


def content_terms(sentence: str, language: str | None = None) -> set[str]:
    """The sentence's fact-bearing terms (citations and filler words removed)."""
    return {t for t in terms(CITATION.sub(" ", sentence), language) if t not in _FILLER}


def support(
    sentence: str,
    passage_text: str,
    language: str | None = None,
    passage_language: str | None = None,
) -> float:
    """Share of the sentence's content terms found in the passage (0..1; 0 for no terms)."""
    wanted = content_terms(sentence, language)
    if not wanted:
        return 0.0
    found = set(terms(passage_text, passage_language))
    return sum(t in found for t in wanted) / len(wanted)


class Grounder:
    """Checks the sentences of one answer against the passages it was written from."""

    def __init__(
        self,
        passages: Sequence[RetrievedPassage],
        language: str | None = None,
        min_support: float = 0.5,
    ) -> None:
        """Pre-compute the passages' term sets."""
        self.passages = list(passages)
        self.language = language
        self.min_support = min_support
        self._terms = [set(terms(p.text, p.language)) for p in self.passages]

    def _score(self, wanted: set[str], number: int) -> float:
        found = self._terms[number - 1]
        return sum(t in found for t in wanted) / len(wanted)

    def check(self, sentence: str) -> Checked:
        """Keep, re-cite or reject one sentence."""
        cited = tuple(
            dict.fromkeys(
                int(n) for n in CITATION.findall(sentence) if 1 <= int(n) <= len(self.passages)
            )
        )
        wanted = content_terms(sentence, self.language)
        if not wanted or not self.passages:
            return Checked(sentence, False, cited, 0.0)
        scores = {n: self._score(wanted, n) for n in range(1, len(self.passages) + 1)}
        good = [n for n in cited if scores[n] >= self.min_support]
        if good:
            return Checked(
                sentence,
                True,
                tuple(good),
                max(scores[n] for n in good),
                changed=len(good) != len(cited),
            )
        best = max(scores, key=lambda n: (scores[n], -n))
        if scores[best] < self.min_support:
            return Checked(sentence, False, cited, max((scores[n] for n in cited), default=0.0))
        bare = CITATION.sub("", sentence).rstrip()
        end = len(bare) - len(bare.rstrip(".!?")) if bare[-1:] in ".!?" else 0
        text = (
            f"{bare[: len(bare) - end]} [{best}]{bare[len(bare) - end :]}"
            if end
            else f"{bare} [{best}]"
        )
        return Checked(text, True, (best,), scores[best], changed=True)


_SENTENCE = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=\S)|\n+")
CONTEXT_WEIGHT = 0.5  # a follow-up's subject (the previous question's terms) counts half


def passage_sentences(text: str) -> list[str]:
    """The sentences of a passage as quotes are cut from it (and found again in the document
    view)."""
    return [s.strip() for s in _SENTENCE.split(text) if len(s.strip()) > 3]


def extract_sentences(
    question: str,
    passages: Sequence[RetrievedPassage],
    language: str | None = None,
    limit: int = 2,
    *,
    context: str = "",
) -> list[tuple[str, int]]:
    """The sentences of ``passages`` that best answer ``question``, as (sentence, passage number).

    Sentences are scored by the IDF-weighted question terms they contain (stemmed, in
    their own language), with a small preference for better-ranked passages. Only
    sentences with a question term are quoted; ``context`` (a follow-up's previous
    question) adds its terms at half weight, so "When did he become king?" after a
    question about Gustav Vasa quotes Gustav Vasa's coronation, not another king. The
    best sentence is kept; another is added only if it scores at least 60 % of the best
    and comes from the same passage or answers a question term the quotes so far lack.
    With no sentence holding a question term, the best sentence by ``context`` (else the
    best-ranked passage's first) is quoted alone. Returned in reading order.
    """
    import math
    from collections import Counter

    wanted = set(terms(question, language))
    around = set(terms(context, language)) - wanted if context else set()
    candidates: list[tuple[int, int, str, set[str], set[str]]] = []
    for number, p in enumerate(passages, 1):
        for position, sentence in enumerate(passage_sentences(p.text)):
            have = set(terms(sentence, p.language or language))
            candidates.append((number, position, sentence, have & wanted, have & around))
    if not candidates:
        return []
    df = Counter(t for *_, have, near in candidates for t in have | near)
    n = len(candidates)

    def weight(found: set[str]) -> float:
        return sum(math.log(1 + n / df[t]) for t in found)

    scored = sorted(
        (
            (
                weight(have) + CONTEXT_WEIGHT * weight(near) - 0.05 * (number - 1),
                number,
                position,
                sentence,
                have,
            )
            for number, position, sentence, have, near in candidates
        ),
        key=lambda item: (-item[0], item[1], item[2]),
    )
    answering = [item for item in scored if item[4]]
    if not answering:
        return [(scored[0][3], scored[0][1])]
    best = [answering[0]]
    covered = set(answering[0][4])
    for item in answering[1:]:
        if len(best) >= limit or item[0] < 0.6 * best[0][0]:
            break
        if item[1] == best[0][1] or not item[4] <= covered:
            best.append(item)
            covered |= item[4]
    best.sort(key=lambda item: (item[1], item[2]))
    return [(sentence, number) for _, number, _, sentence, _ in best]

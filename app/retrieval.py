"""Hybrid retrieval: BM25 and dense vectors fused by standardised score, one course at a time.

Only passages of a document's visible version, not held by the safety scan, are ever
returned: a new version being indexed, or a job killed half-way, stays invisible.

BM25 terms are lower-cased, free of the stopwords of the text's own language,
Snowball-stemmed in that language (en, sv, de, it, nb) and accent-folded, so "Königs" finds
"König" and "valgene" finds "valg". Measured choices (modes, floors) are in docs/retrieval.md.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import select

from app.lexical import BM25Index, LexicalHit, build_lexical_index  # noqa: F401 - BM25Index re-exported
from app.retrieval_terms import fold, terms, tokenize  # noqa: F401 - re-exported
from core.language import detect_language
from core.models import Document, Passage

MODES = ("hybrid", "bm25", "dense")
FUSIONS = ("zscore", "rrf")
RRF_K = 60
CANDIDATES = 40  # passages taken from each side before fusion


def fuse(
    lexical: Sequence[tuple[str, float]],
    dense: Mapping[str, float],
    *,
    method: str = "zscore",
    dense_weight: float = 0.5,
) -> dict[str, float]:
    """One score per candidate from the BM25 list and the dense cosines (higher is better).

    ``zscore``: each side's scores are standardised over its own candidates (mean 0, sd 1)
    and mixed, ``dense_weight`` the dense share; a candidate one side did not return gets
    that side's lowest standardised score. So a BM25 winner that stands far above the rest
    keeps its margin, where ranks alone would flatten it. ``rrf``: weighted reciprocal rank
    fusion (k = 60; equal weights at 0.5).
    """
    sides = [(dict(lexical), 1.0 - dense_weight), (dict(dense), dense_weight)]
    fused: dict[str, float] = defaultdict(float)
    if method == "rrf":
        for scores, weight in sides:
            for rank, pid in enumerate(sorted(scores, key=scores.get, reverse=True)):
                fused[pid] += 2 * weight / (RRF_K + rank + 1)
        return dict(fused)
    if method != "zscore":
        raise ValueError(f"unknown fusion {method!r}; choose one of {FUSIONS}")
    candidates = list(
        dict.fromkeys([*sides[0][0], *sides[1][0]])
    )  # lexical first: ties keep that order
    for scores, weight in sides:
        if not scores:
            continue
        mean = sum(scores.values()) / len(scores)
        sd = math.sqrt(sum((v - mean) ** 2 for v in scores.values()) / len(scores)) or 1.0
        z = {pid: (v - mean) / sd for pid, v in scores.items()}
        lowest = min(z.values())
        for pid in candidates:
            fused[pid] += weight * z.get(pid, lowest)
    return dict(fused)


@dataclass(frozen=True)
class RelevanceRule:
    """When a passage counts as relevant to a question (tuned per embedder on a dev split).

    ``cosine + coverage * term_coverage + lift * (cosine - background) >= floor``, where
    ``background`` is the mean cosine of the course's 5th to 20th nearest passages: how
    close *any* material of this course is to the question. An answerable question stands
    out from that background; an off-topic one is about as close to everything. Courses
    too small for a background (fewer than ``MIN_BACKGROUND`` such passages) use
    ``small_floor`` (default: ``floor``) without the lift term.
    """

    floor: float
    coverage: float
    lift: float = 0.0
    small_floor: float | None = None

    def passes(self, cos: float, cov: float, background: float | None) -> bool:
        """Whether a passage with these scores is relevant."""
        score = cos + self.coverage * cov
        if background is None or not self.lift:
            return score >= (self.floor if self.small_floor is None else self.small_floor)
        return score + self.lift * (cos - background) >= self.floor


MIN_BACKGROUND = 4
# measured in docs/retrieval.md (bench/retrieval_eval.py: tuned on the dev half so that
# >= 95 % of unanswerable dev questions are declined in every language)
RELEVANCE_RULES: dict[str, RelevanceRule] = {
    "multilingual-e5-small": RelevanceRule(floor=1.0975, coverage=0.2, lift=4.0, small_floor=0.885),
}
# embedders without a measurement (and the fakes in tests): cosine >= 0.35 or coverage >= this
LEXICAL_FLOOR = 0.5


def background_of(cosines: Sequence[float]) -> float | None:
    """Mean cosine of the 5th to 20th nearest passages (None when the course is too small)."""
    rest = sorted(cosines, reverse=True)[4:20]
    return sum(rest) / len(rest) if len(rest) >= MIN_BACKGROUND else None


@dataclass(frozen=True)
class RetrievedPassage:
    """A passage chosen for an answer, with provenance for its citation."""

    id: str
    text: str
    document_id: int
    document_title: str
    version: int
    page: int | None
    section: str | None
    language: str | None
    score: float  # fused score
    dense: float  # cosine similarity (0 when not found by the dense side)
    lexical: float  # IDF-weighted share of the query's content terms found in the passage
    relevant: bool
    background: float | None = None  # mean cosine of the 5th-20th nearest passages (RelevanceRule)
    rerank: float | None = (
        None  # the reranker's calibrated probability (app.reranker), when one is configured
    )

    def citation(self, number: int, excerpt_chars: int = 240) -> dict[str, Any]:
        """The JSON citation shown to students and returned by the API."""
        excerpt = (
            self.text
            if len(self.text) <= excerpt_chars
            else self.text[:excerpt_chars].rsplit(" ", 1)[0] + "…"
        )
        return {
            "number": number,
            "passage_id": self.id,
            "document_id": self.document_id,
            "document": self.document_title,
            "version": self.version,
            "page": self.page,
            "section": self.section,
            "excerpt": excerpt,
        }


@runtime_checkable
class Retriever(Protocol):
    """Finds the passages of one course that answer a query."""

    def retrieve(self, course_id: int, query: str, k: int | None = None) -> list[RetrievedPassage]:
        """The best ``k`` passages, best first, each marked relevant or not."""
        ...


def lexical_coverage(
    query: str, text: str, query_language: str | None = None, text_language: str | None = None
) -> float:
    """Share of the query's content terms (stemmed, folded) that occur in ``text`` (0..1)."""
    wanted = set(terms(query, query_language))
    if not wanted:
        return 0.0
    found = set(terms(text, text_language))
    return sum(t in found for t in wanted) / len(wanted)


class HybridRetriever:
    """BM25 + dense retrieval, fused (:func:`fuse`, ``RETRIEVAL_FUSION``), with a relevance floor.

    ``RETRIEVAL_MODE`` chooses ``hybrid`` (default), ``bm25`` or ``dense`` (for evaluation).
    Relevance uses the cosine similarity and the IDF-weighted share of the question's content
    terms in the passage (rare words count most; words found in no passage count fully):
    for a measured embedder, its ``RelevanceRule`` (``RELEVANCE_RULES``); otherwise either
    the cosine floor or ``RETRIEVAL_LEXICAL_FLOOR`` of coverage.
    """

    def __init__(
        self, db, embedder, store, config: Mapping[str, Any], reranker: Any = None
    ) -> None:
        """Use ``db`` for visibility and BM25, ``embedder`` + ``store`` for the dense side.

        ``reranker`` (an ``app.reranker.Reranker``, optional) reorders the best fused
        candidates and decides relevance in place of the rule.
        """
        self.db, self.embedder, self.store = db, embedder, store
        self.reranker = reranker
        self.top_k = int(config.get("RETRIEVAL_TOP_K", 4))
        self.mode = str(config.get("RETRIEVAL_MODE", "hybrid"))
        if self.mode not in MODES:
            raise ValueError(f"unknown RETRIEVAL_MODE {self.mode!r}; choose one of {MODES}")
        self.stem = bool(config.get("RETRIEVAL_STEM", True))
        floor = float(config.get("RETRIEVAL_DENSE_FLOOR", 0.0) or 0.0)
        tuned = RELEVANCE_RULES.get(getattr(embedder, "name", ""))
        # None: the "either floor" rule of an unmeasured embedder
        self.rule = replace(tuned, floor=floor) if tuned and floor else tuned
        self.dense_floor = floor or (tuned.floor if tuned else 0.35)
        self.lexical_floor = float(config.get("RETRIEVAL_LEXICAL_FLOOR", LEXICAL_FLOOR))
        self.fusion = str(config.get("RETRIEVAL_FUSION", "zscore"))
        if self.fusion not in FUSIONS:
            raise ValueError(f"unknown RETRIEVAL_FUSION {self.fusion!r}; choose one of {FUSIONS}")
        self.dense_weight = float(config.get("RETRIEVAL_DENSE_WEIGHT", 0.5))
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ValueError(
                f"RETRIEVAL_DENSE_WEIGHT must be between 0 and 1, not {self.dense_weight}"
            )
        self.lexical = build_lexical_index(db, config)
        self._term_sets: dict[
            str, frozenset[str]
        ] = {}  # passage id -> its terms (ids are immutable per version)
        self._lock = threading.Lock()

    def _relevant(self, cos: float, cov: float, background: float | None = None) -> bool:
        """The relevance floor (see RelevanceRule)."""
        if self.mode == "bm25":
            return cov >= self.lexical_floor
        if self.rule is not None:
            return self.rule.passes(cos, cov, background)
        return cos >= self.dense_floor or cov >= self.lexical_floor

    def _visible(self, course_id: int, ids: Sequence[str]) -> dict[str, Any]:
        """Rows (passage, document title) of those ``ids`` that are visible in the course."""
        if not ids:
            return {}
        with self.db.session() as s:
            rows = s.execute(
                select(Passage, Document.title)
                .join(Document, Passage.document_id == Document.id)
                .where(
                    Passage.id.in_(list(ids)),
                    Passage.course_id == course_id,
                    Passage.version == Document.version,
                    Passage.status == "indexed",
                )
            ).all()
        return {p.id: (p, title) for p, title in rows}

    def _term_set(self, passage: Passage) -> frozenset[str]:
        """A passage's distinct terms (cached by id, bounded)."""
        found = self._term_sets.get(passage.id)
        if found is None:
            found = frozenset(terms(passage.text, passage.language, stem=self.stem))
            with self._lock:
                if len(self._term_sets) > 50_000:
                    self._term_sets.clear()
                self._term_sets[passage.id] = found
        return found

    def _coverages(self, wanted: set[str], info: Mapping[str, Any]) -> dict[str, float]:
        """IDF-weighted share of ``wanted`` in each candidate, IDF over the candidates only.

        Replaces the whole-course BM25 IDF: no worker needs a full index. Terms found in no
        candidate count fully, as before.
        """
        sets = {pid: self._term_set(p) for pid, (p, _) in info.items()}
        n = len(sets)
        idf = {
            t: math.log(1 + (n - df + 0.5) / (df + 0.5))
            for t in wanted
            for df in [sum(t in s for s in sets.values())]
        }
        total = sum(idf.values())
        return {
            pid: (sum(idf[t] for t in wanted if t in s) / total if total else 0.0)
            for pid, s in sets.items()
        }

    def retrieve(self, course_id: int, query: str, k: int | None = None) -> list[RetrievedPassage]:
        """Fuse lexical and dense rankings; keep only visible passages."""
        k = k or self.top_k
        depth = max(CANDIDATES, k)  # fixed, so that fusion sees the same candidates whatever k is
        language = detect_language(query)
        hits: list[LexicalHit] = (
            self.lexical.search(course_id, query, k=depth, language=language)
            if self.mode != "dense"
            else []
        )
        lexical = [(h.id, h.score) for h in hits]
        dense_hits = []
        if self.mode != "bm25":
            count = self.store.count(course_id)
            dense_hits = (
                self.store.query(course_id, self.embedder.embed_query(query), min(depth, count))
                if count
                else []
            )
        info = self._visible(
            course_id, list(dict.fromkeys([*(h[0] for h in lexical), *(h.id for h in dense_hits)]))
        )
        if not info:
            return []
        dense = {h.id: h.score for h in dense_hits if h.id in info}
        background = background_of(list(dense.values()))
        fused = fuse(
            [h for h in lexical if h[0] in info],
            dense,
            method=self.fusion,
            dense_weight=self.dense_weight,
        )
        width = max(k, self.reranker.candidates) if self.reranker is not None else k
        ranked = sorted(fused, key=fused.get, reverse=True)[:width]
        coverage = self._coverages(set(terms(query, language, stem=self.stem)), info)
        out = [
            self._passage(
                info[pid],
                score=fused[pid],
                cos=dense.get(pid, 0.0),
                cov=coverage[pid],
                background=background,
            )
            for pid in ranked
        ]
        if self.reranker is not None:
            out = self.reranker.rerank(query, language, out)
        return out[:k]

    def _passage(
        self, row, *, score: float, cos: float, cov: float, background: float | None
    ) -> RetrievedPassage:
        """One result with its provenance and relevance."""
        passage, title = row
        return RetrievedPassage(
            id=passage.id,
            text=passage.text,
            document_id=passage.document_id,
            document_title=title,
            version=passage.version,
            page=passage.page,
            section=passage.section,
            language=passage.language,
            score=score,
            dense=cos,
            lexical=cov,
            relevant=self._relevant(cos, cov, background),
            background=background,
        )

"""Hybrid retrieval: BM25 and dense vectors fused by reciprocal rank, one course at a time.

Only passages of a document's visible version, not held by the safety scan, are ever
returned: a new version being indexed, or a job killed half-way, stays invisible.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import select

from app.language import _STOP_SETS
from app.models import Course, Document, Passage

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_ALL_STOPWORDS = set().union(*_STOP_SETS.values())


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without stopwords, used by BM25 and the relevance floor."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in _ALL_STOPWORDS and (len(t) > 1 or t.isdigit())]


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
    lexical: float  # share of the query's content words found in the passage
    relevant: bool

    def citation(self, number: int, excerpt_chars: int = 240) -> dict[str, Any]:
        """The JSON citation shown to students and returned by the API."""
        excerpt = self.text if len(self.text) <= excerpt_chars else self.text[:excerpt_chars].rsplit(" ", 1)[0] + "…"
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


class BM25Index:
    """Okapi BM25 over a fixed set of passages (an inverted index in memory)."""

    def __init__(self, rows: Sequence[tuple[str, str]], k1: float = 1.4, b: float = 0.75) -> None:
        """Index ``rows`` of (passage id, text)."""
        self.ids = [pid for pid, _ in rows]
        self.k1, self.b = k1, b
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.lengths: list[int] = []
        for i, (_, text) in enumerate(rows):
            counts = Counter(tokenize(text))
            self.lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                self.postings[term].append((i, tf))
        self.avg_len = (sum(self.lengths) / len(self.lengths)) if self.lengths else 0.0

    def search(self, query: str, k: int) -> list[tuple[str, float]]:
        """Top ``k`` (passage id, score) for ``query``."""
        n = len(self.ids)
        if not n:
            return []
        scores: dict[int, float] = defaultdict(float)
        for term in set(tokenize(query)):
            plist = self.postings.get(term)
            if not plist:
                continue
            idf = math.log(1 + (n - len(plist) + 0.5) / (len(plist) + 0.5))
            for i, tf in plist:
                norm = tf + self.k1 * (1 - self.b + self.b * self.lengths[i] / (self.avg_len or 1))
                scores[i] += idf * tf * (self.k1 + 1) / norm
        best = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:k]
        return [(self.ids[i], s) for i, s in best]


def lexical_coverage(query: str, text: str) -> float:
    """Share of the query's content words that occur in ``text`` (0..1)."""
    terms = set(tokenize(query))
    if not terms:
        return 0.0
    words = set(tokenize(text))
    return sum(t in words for t in terms) / len(terms)


class HybridRetriever:
    """BM25 + dense retrieval fused with reciprocal rank fusion, with a relevance floor."""

    def __init__(self, db, embedder, store, config: Mapping[str, Any]) -> None:
        """Use ``db`` for visibility and BM25, ``embedder`` + ``store`` for the dense side."""
        self.db, self.embedder, self.store = db, embedder, store
        self.top_k = int(config.get("RETRIEVAL_TOP_K", 4))
        self.dense_floor = float(config.get("RETRIEVAL_DENSE_FLOOR", 0.35))
        self.lexical_floor = float(config.get("RETRIEVAL_LEXICAL_FLOOR", 0.5))
        self.rrf_k = 60
        self._bm25: dict[int, tuple[int, BM25Index, dict[str, Passage]]] = {}
        self._lock = threading.Lock()

    def _visible(self, course_id: int) -> tuple[BM25Index, dict[str, Any]]:
        """BM25 index and passage rows of the visible material, cached per content version."""
        with self.db.session() as s:
            version = s.scalar(select(Course.content_version).where(Course.id == course_id))
            cached = self._bm25.get(course_id)
            if cached and cached[0] == version:
                return cached[1], cached[2]
            rows = s.execute(
                select(Passage, Document.title)
                .join(Document, Passage.document_id == Document.id)
                .where(
                    Passage.course_id == course_id,
                    Passage.version == Document.version,
                    Passage.status == "indexed",
                )
            ).all()
            info = {p.id: (p, title) for p, title in rows}
        index = BM25Index([(pid, p.text) for pid, (p, _) in info.items()])
        with self._lock:
            self._bm25[course_id] = (version, index, info)
        return index, info

    def retrieve(self, course_id: int, query: str, k: int | None = None) -> list[RetrievedPassage]:
        """Fuse lexical and dense rankings; keep only visible passages."""
        k = k or self.top_k
        index, info = self._visible(course_id)
        if not info:
            return []
        depth = max(20, 4 * k)
        lexical = index.search(query, depth)
        dense_hits = self.store.query(course_id, self.embedder.embed_query(query), min(depth, len(info)))
        dense = {h.id: h.score for h in dense_hits if h.id in info}
        fused: dict[str, float] = defaultdict(float)
        for rank, (pid, _) in enumerate(lexical):
            fused[pid] += 1.0 / (self.rrf_k + rank + 1)
        for rank, pid in enumerate(sorted(dense, key=dense.get, reverse=True)):
            fused[pid] += 1.0 / (self.rrf_k + rank + 1)
        ranked = sorted(fused, key=fused.get, reverse=True)[:k]
        out = []
        for pid in ranked:
            passage, title = info[pid]
            cov = lexical_coverage(query, passage.text)
            cos = dense.get(pid, 0.0)
            out.append(
                RetrievedPassage(
                    id=pid,
                    text=passage.text,
                    document_id=passage.document_id,
                    document_title=title,
                    version=passage.version,
                    page=passage.page,
                    section=passage.section,
                    language=passage.language,
                    score=fused[pid],
                    dense=cos,
                    lexical=cov,
                    relevant=cos >= self.dense_floor or cov >= self.lexical_floor,
                )
            )
        return out

"""Lexical search behind one small interface, run by the database engine (issue 18).

``LEXICAL_BACKEND`` chooses the backend: ``database`` (default) searches inside the
database, so no web worker builds an index: SQLite FTS5 over Snowball-stemmed terms
(``passages_fts``, kept in sync by triggers that call ``kateder_terms``), or PostgreSQL
full-text search (``passages.search_vector``, a generated ``tsvector`` in the passage's
language, GIN-indexed, ranked by ``ts_rank_cd``). ``memory`` is the former in-process
BM25 index, kept for comparison. Migration 0006 creates the tables and backfills them.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy import text as sql

from app.retrieval_terms import terms, words
from core.models import Course, Document, Passage

SQLITE_TERMS_FUNCTION = "kateder_terms"
PG_CONFIGS = {"sv": "swedish", "nb": "norwegian", "de": "german", "it": "italian", "en": "english"}


@dataclass(frozen=True)
class LexicalHit:
    """One passage found by the lexical side (higher score is better)."""

    id: str
    score: float


class LexicalIndex(Protocol):
    """Finds the visible passages of one course that share terms with a query."""

    name: str

    def search(self, course_id: int, query: str, *, k: int, language: str | None = None) -> list[LexicalHit]:
        """The best ``k`` hits, best first (any query term may match)."""
        ...


def sqlite_terms(passage_text: str | None, language: str | None) -> str:
    """The stemmed, folded terms of a passage as one string (the SQLite trigger's function)."""
    return " ".join(terms(passage_text or "", language))


def register_sqlite_functions(dbapi_connection) -> None:
    """Make ``kateder_terms(text, language)`` available to the FTS triggers of 0006."""
    dbapi_connection.create_function(SQLITE_TERMS_FUNCTION, 2, sqlite_terms, deterministic=True)


_VISIBLE = "p.course_id = :course AND p.version = d.version AND p.status = 'indexed'"
_SQLITE_SEARCH = sql(
    "SELECT p.id, bm25(passages_fts) AS rank FROM passages_fts "
    "JOIN passages_lexical l ON l.id = passages_fts.rowid JOIN passages p ON p.id = l.passage_id "
    f"JOIN documents d ON d.id = p.document_id WHERE passages_fts MATCH :match AND {_VISIBLE} "
    "ORDER BY rank LIMIT :k"
)
# Okapi BM25 (k1 1.2, b 0.75) in SQL: document frequencies counted within the course's matching
# passages (every passage holding a query lexeme matches the OR query), length = distinct lexemes
_PG_SEARCH = sql(
    "WITH q AS (SELECT to_tsquery(CAST(:config AS regconfig), :query) AS tq), "
    "m AS (SELECT p.id, p.search_vector AS v FROM passages p JOIN documents d ON d.id = p.document_id, q "
    f"WHERE p.search_vector @@ q.tq AND {_VISIBLE}), "
    "n AS (SELECT count(*) AS total FROM passages p JOIN documents d ON d.id = p.document_id "
    f"WHERE {_VISIBLE}), "
    "t AS (SELECT DISTINCT lexeme FROM unnest(tsvector_to_array(to_tsvector(CAST(:config AS regconfig), :query))) AS lexeme), "
    "hits AS (SELECT m.id, u.lexeme, cardinality(u.positions) AS tf, length(m.v) AS len FROM m, unnest(m.v) AS u "
    "JOIN t ON t.lexeme = u.lexeme), "
    "df AS (SELECT lexeme, count(*) AS df FROM hits GROUP BY lexeme), "
    "avg AS (SELECT coalesce(avg(length(v)), 1) AS len FROM m) "
    "SELECT hits.id, sum(ln(1 + (n.total - df.df + 0.5) / (df.df + 0.5)) * hits.tf * 2.2 "
    "/ (hits.tf + 1.2 * (0.25 + 0.75 * hits.len / avg.len))) AS rank "
    "FROM hits JOIN df ON df.lexeme = hits.lexeme, n, avg GROUP BY hits.id ORDER BY rank DESC LIMIT :k"
)


class SqliteFtsIndex:
    """SQLite FTS5 over pre-stemmed terms, ranked by ``bm25()`` (OR of the query's terms)."""

    name = "sqlite-fts5"

    def __init__(self, db) -> None:
        """Search ``db`` (an SQLite :class:`app.db.Database`)."""
        self.db = db

    def search(self, course_id: int, query: str, *, k: int, language: str | None = None) -> list[LexicalHit]:
        """FTS5 MATCH of any stemmed query term within the course's visible passages."""
        wanted = list(dict.fromkeys(terms(query, language)))
        if not wanted:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in wanted)
        with self.db.session() as s:
            rows = s.execute(_SQLITE_SEARCH, {"match": match, "course": course_id, "k": k}).all()
        return [LexicalHit(pid, -float(rank)) for pid, rank in rows]


class PostgresFtsIndex:
    """PostgreSQL full-text search: ``tsvector`` per passage, GIN index, BM25 ranking in SQL.

    ``ts_rank_cd`` (no inverse document frequency) measured far below BM25 (docs/retrieval.md),
    so the GIN index finds the passages holding any query lexeme and BM25 ranks them.
    """

    name = "postgres-fts"

    def __init__(self, db) -> None:
        """Search ``db`` (a PostgreSQL :class:`app.db.Database`)."""
        self.db = db

    def search(self, course_id: int, query: str, *, k: int, language: str | None = None) -> list[LexicalHit]:
        """``to_tsquery`` of the query's words joined by ``|`` in the query's language."""
        tokens = list(dict.fromkeys(words(query)))
        if not tokens:
            return []
        params = {"config": PG_CONFIGS.get(language or "", "simple"), "query": " | ".join(tokens), "course": course_id, "k": k}
        with self.db.session() as s:
            rows = s.execute(_PG_SEARCH, params).all()
        return [LexicalHit(pid, float(rank)) for pid, rank in rows]


class BM25Index:
    """Okapi BM25 over a fixed set of passages (an inverted index in memory)."""

    def __init__(self, rows: Sequence[tuple[str, str, str | None]], k1: float = 1.4, b: float = 0.75, stem: bool = True) -> None:
        """Index ``rows`` of (passage id, text, language)."""
        self.ids = [pid for pid, _, _ in rows]
        self.k1, self.b, self.stem = k1, b, stem
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        self.lengths: list[int] = []
        self._terms: dict[str, frozenset[str]] = {}
        for i, (pid, text, language) in enumerate(rows):
            counts = Counter(terms(text, language, stem=stem))
            self._terms[pid] = frozenset(counts)
            self.lengths.append(sum(counts.values()))
            for term, tf in counts.items():
                self.postings[term].append((i, tf))
        self.avg_len = (sum(self.lengths) / len(self.lengths)) if self.lengths else 0.0

    def idf(self, term: str) -> float:
        """BM25 inverse document frequency; highest for terms found in no passage."""
        n, df = len(self.ids), len(self.postings.get(term, ()))
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def coverage(self, wanted: set[str], pid: str) -> float:
        """IDF-weighted share of the query terms ``wanted`` that occur in passage ``pid``."""
        total = sum(self.idf(t) for t in wanted)
        if not total:
            return 0.0
        found = self._terms.get(pid, frozenset())
        return sum(self.idf(t) for t in wanted if t in found) / total

    def term_set(self, pid: str) -> frozenset[str]:
        """The distinct index terms of one passage."""
        return self._terms.get(pid, frozenset())

    def search(self, query: str, k: int, language: str | None = None) -> list[tuple[str, float]]:
        """Top ``k`` (passage id, score) for ``query`` (written in ``language``)."""
        n = len(self.ids)
        if not n:
            return []
        scores: dict[int, float] = defaultdict(float)
        for term in set(terms(query, language, stem=self.stem)):
            plist = self.postings.get(term)
            if not plist:
                continue
            idf = math.log(1 + (n - len(plist) + 0.5) / (len(plist) + 0.5))
            for i, tf in plist:
                norm = tf + self.k1 * (1 - self.b + self.b * self.lengths[i] / (self.avg_len or 1))
                scores[i] += idf * tf * (self.k1 + 1) / norm
        best = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:k]
        return [(self.ids[i], s) for i, s in best]


class MemoryBM25Index:
    """The former in-process BM25 index, built per course and content version (for comparison)."""

    name = "memory-bm25"

    def __init__(self, db, *, stem: bool = True) -> None:
        """Build indexes of ``db``'s visible passages on demand."""
        self.db, self.stem = db, stem
        self._cache: dict[int, tuple[int, object]] = {}
        self._lock = threading.Lock()

    def _index(self, course_id: int):
        with self.db.session() as s:
            version = s.scalar(select(Course.content_version).where(Course.id == course_id))
            cached = self._cache.get(course_id)
            if cached and cached[0] == version:
                return cached[1]
            rows = s.execute(
                select(Passage.id, Passage.text, Passage.language).join(Document, Passage.document_id == Document.id)
                .where(Passage.course_id == course_id, Passage.version == Document.version, Passage.status == "indexed")
            ).all()
        index = BM25Index([tuple(r) for r in rows], stem=self.stem)
        with self._lock:
            self._cache[course_id] = (version, index)
        return index

    def search(self, course_id: int, query: str, *, k: int, language: str | None = None) -> list[LexicalHit]:
        """Okapi BM25 over the course's visible passages."""
        return [LexicalHit(pid, score) for pid, score in self._index(course_id).search(query, k, language)]


def build_lexical_index(db, config) -> LexicalIndex:
    """The backend ``LEXICAL_BACKEND`` names (``database`` picks FTS5 or PostgreSQL by URL)."""
    backend = str(config.get("LEXICAL_BACKEND", "database"))
    if backend == "memory":
        return MemoryBM25Index(db, stem=bool(config.get("RETRIEVAL_STEM", True)))
    if backend != "database":
        raise ValueError(f"unknown LEXICAL_BACKEND {backend!r}; choose 'database' or 'memory'")
    return SqliteFtsIndex(db) if db.is_sqlite else PostgresFtsIndex(db)

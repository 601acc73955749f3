"""Lexical search behind one small interface, run by the database engine (issue 18).

``LEXICAL_BACKEND`` chooses the backend: ``database`` (default) searches inside the
database, so no web worker builds an index: SQLite FTS5 over Snowball-stemmed terms
(``passages_fts``, kept in sync by triggers that call ``kateder_terms``), or PostgreSQL
full-text search (``passages.search_vector``, a generated ``tsvector`` in the passage's
language, GIN-indexed, ranked by Okapi BM25). ``memory`` is the former in-process
BM25 index, kept for comparison. Migration 0006 creates the tables and backfills them.

Large courses (issue 18, "Scaling"): an OR query of a question's terms matches nearly every
passage of a 100,000-passage course through its common words, and ranking then scores the whole
course. Both database backends therefore plan each query of a course with at least
``LEXICAL_PLAN_FROM`` (20,000) visible passages (:func:`plan_terms`); smaller courses are
searched exactly as before (every term, the engine's own BM25 over every match), which is
what the quality tables in docs/retrieval.md measured. The plan: at most
``LEXICAL_MAX_TERMS`` distinct terms (the rarest), and terms found in more than
``LEXICAL_COMMON_FRACTION`` of the course's visible passages do not select candidates (the
rarest term always stays, so a query never empties). The engine finds the passages holding a
remaining term, keeps the best ``LEXICAL_CANDIDATES`` by its own rank, and these are re-scored
by BM25 over *all* planned terms, common ones included, with the course's term statistics
(:class:`CourseStats`, cached per course and content version). A query with no common term
runs as before (one statement, the engine's own BM25).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import select
from sqlalchemy import text as sql

from app.retrieval_terms import terms, words
from core.models import Course, Document, Passage

SQLITE_TERMS_FUNCTION = "kateder_terms"
COMMON_FRACTION = 0.05  # terms in more than this share of a course's passages select no candidates
MAX_TERMS = 16  # distinct terms per query (the rarest)
RESCORE_CANDIDATES = 200  # passages the engine pre-ranks by the rarer terms, re-scored by full BM25
CANDIDATE_ROWS = 5000  # at most this many matching rows (summed document frequencies) are ranked
# courses with fewer visible passages are searched exactly as before the query plan (every
# term, ranked by the engine): the plan only pays off, and was only measured, on large courses
PLAN_FROM = 20_000
STATS_TTL_S = 600.0  # term statistics are also refreshed this often, whatever the content version
PG_CONFIGS = {"sv": "swedish", "nb": "norwegian", "de": "german", "it": "italian", "en": "english"}


@dataclass(frozen=True)
class LexicalHit:
    """One passage found by the lexical side (higher score is better)."""

    id: str
    score: float


class LexicalIndex(Protocol):
    """Finds the visible passages of one course that share terms with a query."""

    name: str

    def search(
        self, course_id: int, query: str, *, k: int, language: str | None = None
    ) -> list[LexicalHit]:
        """The best ``k`` hits, best first (any query term may match)."""
        ...


def sqlite_terms(passage_text: str | None, language: str | None) -> str:
    """The stemmed, folded terms of a passage as one string (the SQLite trigger's function)."""
    return " ".join(terms(passage_text or "", language))


def register_sqlite_functions(dbapi_connection) -> None:
    """Make ``kateder_terms(text, language)`` available to the FTS triggers of 0006."""
    dbapi_connection.create_function(SQLITE_TERMS_FUNCTION, 2, sqlite_terms, deterministic=True)


@dataclass
class CourseStats:
    """Term statistics of one course's visible passages, for one content version."""

    n: int  # visible passages
    avg_len: float  # mean passage length in index terms (SQLite) or distinct lexemes (PostgreSQL)
    df: dict[str, int] = field(
        default_factory=dict
    )  # term -> visible passages holding it (filled on demand)
    at: float = field(default_factory=time.monotonic)


class StatsCache:
    """Per-process :class:`CourseStats` by (course, content version), bounded and time-limited.

    Statistics only steer pruning and ranking: which passages are visible is always read live,
    so a stale entry can reorder results but never show a deleted or held passage.
    """

    def __init__(self, size: int = 256, ttl_s: float = STATS_TTL_S) -> None:
        """Keep at most ``size`` courses, each for at most ``ttl_s`` seconds."""
        self.size, self.ttl_s = size, ttl_s
        self._entries: OrderedDict[tuple[int, int], CourseStats] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[int, int], build: Callable[[], CourseStats]) -> CourseStats:
        """The entry for ``key``, built by ``build()`` when missing or expired."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None and time.monotonic() - found.at < self.ttl_s:
                self._entries.move_to_end(key)
                return found
        built = build()
        with self._lock:
            self._entries[key] = built
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return built


@dataclass(frozen=True)
class TermPlan:
    """The terms one query is searched with."""

    terms: tuple[str, ...]  # all planned terms (the rarest MAX_TERMS), scored
    select: tuple[str, ...]  # the terms that select candidates (common ones left out)

    @property
    def pruned(self) -> bool:
        """True when some planned term selects no candidates."""
        return len(self.select) < len(self.terms)


def plan_terms(
    wanted: Sequence[str],
    df: Mapping[str, int],
    n: int,
    *,
    fraction: float = COMMON_FRACTION,
    max_terms: int = MAX_TERMS,
    budget: int = CANDIDATE_ROWS,
) -> TermPlan:
    """The ``max_terms`` rarest terms of ``wanted``; which of them select candidates.

    Selecting: rarest first, each in at most ``fraction`` of the ``n`` passages, while their
    document frequencies add up to at most ``budget`` rows (the matching work). The rarest term
    that occurs always selects, so a query never empties; terms found in no passage stay (they
    cost nothing and count for nothing) without taking a place in the cap. Terms keep the
    query's order.
    """
    distinct = list(dict.fromkeys(wanted))
    order = {t: i for i, t in enumerate(distinct)}
    occurring = sorted((t for t in distinct if df.get(t, 0) > 0), key=lambda t: (df[t], order[t]))[
        :max_terms
    ]
    select, rows = [], 0
    for t in occurring:
        if df[t] > fraction * n or rows + df[t] > budget:
            break
        select.append(t)
        rows += df[t]
    select = select or occurring[:1]
    keep = set(occurring) | {t for t in distinct if df.get(t, 0) <= 0}
    chosen = set(select) | {t for t in distinct if df.get(t, 0) <= 0}
    return TermPlan(
        tuple(t for t in distinct if t in keep), tuple(t for t in distinct if t in chosen)
    )


def bm25_scores(
    candidates: Iterable[tuple[str, Mapping[str, int], float]],
    plan: TermPlan,
    stats: CourseStats,
    *,
    k1: float = 1.2,
    b: float = 0.75,
) -> dict[str, float]:
    """Okapi BM25 of each (passage id, term frequencies, length) over all of ``plan``'s terms."""
    n = max(stats.n, 1)
    idf = {
        t: math.log(1 + (n - stats.df.get(t, 0) + 0.5) / (stats.df.get(t, 0) + 0.5))
        for t in plan.terms
    }
    avg = stats.avg_len or 1.0
    out: dict[str, float] = {}
    for pid, tf, length in candidates:
        norm = k1 * (1 - b + b * length / avg)
        out[pid] = sum(
            idf[t] * f * (k1 + 1) / (f + norm) for t in plan.terms if (f := tf.get(t, 0))
        )
    return out


def _settings(config: Mapping | None) -> dict:
    config = config or {}
    return {
        "fraction": float(config.get("LEXICAL_COMMON_FRACTION", COMMON_FRACTION)),
        "max_terms": int(config.get("LEXICAL_MAX_TERMS", MAX_TERMS)),
        "budget": int(config.get("LEXICAL_CANDIDATE_ROWS", CANDIDATE_ROWS)),
        "candidates": int(config.get("LEXICAL_CANDIDATES", RESCORE_CANDIDATES)),
        "plan_from": int(config.get("LEXICAL_PLAN_FROM", PLAN_FROM)),
    }


_VISIBLE = "p.course_id = :course AND p.version = d.version AND p.status = 'indexed'"
_VISIBLE_FROM = "FROM passages p JOIN documents d ON d.id = p.document_id"
_CONTENT_VERSION = sql("SELECT content_version FROM courses WHERE id = :course")
_SQLITE_FROM = (
    "FROM passages_fts JOIN passages_lexical l ON l.id = passages_fts.rowid "
    "JOIN passages p ON p.id = l.passage_id "
    "JOIN documents d ON d.id = p.document_id"
)
_SQLITE_SEARCH = sql(
    f"SELECT p.id, bm25(passages_fts) AS rank {_SQLITE_FROM} "
    f"WHERE passages_fts MATCH :match AND {_VISIBLE} "
    "ORDER BY rank LIMIT :k"
)
_SQLITE_CANDIDATES = sql(
    f"SELECT p.id, l.terms {_SQLITE_FROM} WHERE passages_fts MATCH :match AND {_VISIBLE} "
    "ORDER BY bm25(passages_fts) LIMIT :k"
)
_SQLITE_DF = sql(f"SELECT count(*) {_SQLITE_FROM} WHERE passages_fts MATCH :match AND {_VISIBLE}")
_SQLITE_STATS = sql(
    "SELECT count(*), avg(length(l.terms) - length(replace(l.terms, ' ', '')) + 1) "
    f"{_VISIBLE_FROM} "
    f"JOIN passages_lexical l ON l.passage_id = p.id WHERE {_VISIBLE}"
)
# small courses: BM25 over every matching passage, in one statement
_PG_SEARCH = sql(
    "WITH q AS (SELECT to_tsquery(CAST(:config AS regconfig), :query) AS tq), "
    "m AS (SELECT p.id, p.search_vector AS v "
    "FROM passages p JOIN documents d ON d.id = p.document_id, q "
    f"WHERE p.search_vector @@ q.tq AND {_VISIBLE}), "
    "n AS (SELECT count(*) AS total FROM passages p JOIN documents d ON d.id = p.document_id "
    f"WHERE {_VISIBLE}), "
    "t AS (SELECT DISTINCT lexeme "
    "FROM unnest(tsvector_to_array(to_tsvector(CAST(:config AS regconfig), :query))) AS lexeme), "
    "hits AS (SELECT m.id, u.lexeme, cardinality(u.positions) AS tf, length(m.v) AS len "
    "FROM m, unnest(m.v) AS u "
    "JOIN t ON t.lexeme = u.lexeme), "
    "df AS (SELECT lexeme, count(*) AS df FROM hits GROUP BY lexeme), "
    "avg AS (SELECT coalesce(avg(length(v)), 1) AS len FROM m) "
    "SELECT hits.id, sum(ln(1 + (n.total - df.df + 0.5) / (df.df + 0.5)) * hits.tf * 2.2 "
    "/ (hits.tf + 1.2 * (0.25 + 0.75 * hits.len / avg.len))) AS rank "
    "FROM hits JOIN df ON df.lexeme = hits.lexeme, n, avg "
    "GROUP BY hits.id ORDER BY rank DESC LIMIT :k"
)
_PG_LEXEMES = sql(
    "SELECT DISTINCT unnest(tsvector_to_array(to_tsvector(CAST(:config AS regconfig), :query)))"
)
_PG_DF = sql(
    f"SELECT count(*) {_VISIBLE_FROM} WHERE p.search_vector @@ CAST(:tq AS tsquery) AND {_VISIBLE}"
)
_PG_STATS = sql(
    f"SELECT count(*), coalesce(avg(length(p.search_vector)), 0) {_VISIBLE_FROM} WHERE {_VISIBLE}"
)


def _fts_phrase(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _tsquery_lexeme(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


class _PlannedIndex:
    """What both database backends share: per-course term statistics and the query plan."""

    def __init__(self, db, config: Mapping | None = None) -> None:
        self.db = db
        self.settings = _settings(config)
        self.stats_cache = StatsCache()

    def _course(self, s, course_id: int) -> CourseStats:
        """The course's passage count and mean length (cached per content version)."""
        version = s.execute(_CONTENT_VERSION, {"course": course_id}).scalar() or 0

        def build() -> CourseStats:
            n, avg = s.execute(self._stats_sql, {"course": course_id}).one()
            return CourseStats(int(n or 0), float(avg or 0.0))

        return self.stats_cache.get((course_id, int(version)), build)

    def _planned(self, s, course_id: int) -> CourseStats | None:
        """The course's statistics when it is large enough to be searched with a query plan."""
        stats = self._course(s, course_id)
        return stats if stats.n >= self.settings["plan_from"] else None

    def _stats(
        self, s, course_id: int, wanted: Sequence[str], course: CourseStats | None = None
    ) -> CourseStats:
        """The course's statistics with the document frequencies of ``wanted`` filled in."""
        stats = course or self._course(s, course_id)
        for term in [t for t in dict.fromkeys(wanted) if t not in stats.df]:
            stats.df[term] = int(
                s.execute(self._df_sql, {"course": course_id, **self._df_params(term)}).scalar()
                or 0
            )
        return stats

    def plan(self, stats: CourseStats, wanted: Sequence[str]) -> TermPlan:
        """:func:`plan_terms` with this index's settings."""
        st = self.settings
        return plan_terms(
            wanted,
            stats.df,
            stats.n,
            fraction=st["fraction"],
            max_terms=st["max_terms"],
            budget=st["budget"],
        )


class SqliteFtsIndex(_PlannedIndex):
    """SQLite FTS5 over pre-stemmed terms, ranked by ``bm25()`` (OR of the query's terms)."""

    name = "sqlite-fts5"
    _stats_sql, _df_sql = _SQLITE_STATS, _SQLITE_DF

    def _df_params(self, term: str) -> dict:
        return {"match": _fts_phrase(term)}

    def search(
        self, course_id: int, query: str, *, k: int, language: str | None = None
    ) -> list[LexicalHit]:
        """FTS5 MATCH of the planned query terms within the course's visible passages.

        Without common terms: FTS5's ``bm25()``, ``ORDER BY rank LIMIT k``. With: the best
        ``LEXICAL_CANDIDATES`` by ``bm25()`` over the selecting terms, re-scored by BM25 over all.
        """
        wanted = list(dict.fromkeys(terms(query, language)))
        if not wanted:
            return []
        with self.db.session() as s:
            course = self._planned(s, course_id)
            if course is None:
                match = " OR ".join(_fts_phrase(t) for t in wanted)
                rows = s.execute(
                    _SQLITE_SEARCH, {"match": match, "course": course_id, "k": k}
                ).all()
                return [LexicalHit(pid, -float(rank)) for pid, rank in rows]
            stats = self._stats(s, course_id, wanted, course)
            plan = self.plan(stats, wanted)
            if not plan.pruned:
                match = " OR ".join(_fts_phrase(t) for t in plan.terms)
                rows = s.execute(
                    _SQLITE_SEARCH, {"match": match, "course": course_id, "k": k}
                ).all()
                return [LexicalHit(pid, -float(rank)) for pid, rank in rows]
            match = " OR ".join(_fts_phrase(t) for t in plan.select)
            found = s.execute(
                _SQLITE_CANDIDATES,
                {"match": match, "course": course_id, "k": max(k, self.settings["candidates"])},
            ).all()
        candidates = []
        for pid, text in found:
            tokens = (text or "").split()
            candidates.append((pid, Counter(tokens), float(len(tokens))))
        scores = bm25_scores(candidates, plan, stats)
        return [
            LexicalHit(pid, score)
            for pid, score in sorted(scores.items(), key=lambda kv: -kv[1])[:k]
        ]


class PostgresFtsIndex(_PlannedIndex):
    """PostgreSQL full-text search: ``tsvector`` per passage, GIN index, BM25 ranking.

    ``ts_rank_cd`` (no inverse document frequency) measured far below BM25 (docs/retrieval.md).
    The GIN index finds the passages holding a selecting lexeme; the best
    ``LEXICAL_CANDIDATES`` of them by the IDF of the selecting lexemes they hold are re-scored
    by BM25 over all planned lexemes (length = distinct lexemes, as ``length(tsvector)``).
    """

    name = "postgres-fts"
    _stats_sql, _df_sql = _PG_STATS, _PG_DF

    def _df_params(self, term: str) -> dict:
        return {"tq": _tsquery_lexeme(term)}

    def search(
        self, course_id: int, query: str, *, k: int, language: str | None = None
    ) -> list[LexicalHit]:
        """The query's lexemes in its language (``to_tsvector``), planned, matched through GIN."""
        if not words(query):
            return []
        config = PG_CONFIGS.get(language or "", "simple")
        with self.db.session() as s:
            wanted = sorted(s.execute(_PG_LEXEMES, {"config": config, "query": query}).scalars())
            if not wanted:
                return []
            course = self._planned(s, course_id)
            if course is None:
                tokens = " | ".join(dict.fromkeys(words(query)))
                rows = s.execute(
                    _PG_SEARCH, {"config": config, "query": tokens, "course": course_id, "k": k}
                ).all()
                return [LexicalHit(pid, float(rank)) for pid, rank in rows]
            stats = self._stats(s, course_id, wanted, course)
            plan = self.plan(stats, wanted)
            n = max(stats.n, 1)
            params: dict = {
                "course": course_id,
                "k": max(k, self.settings["candidates"]),
                "lexemes": list(plan.terms),
                "tq": " | ".join(_tsquery_lexeme(t) for t in plan.select),
            }
            weights = []
            for i, t in enumerate(plan.select):
                df = stats.df.get(t, 0)
                params[f"q{i}"], params[f"w{i}"] = (
                    _tsquery_lexeme(t),
                    math.log(1 + (n - df + 0.5) / (df + 0.5)),
                )
                weights.append(
                    f"CASE WHEN p.search_vector @@ CAST(:q{i} AS tsquery) THEN :w{i} ELSE 0 END"
                )
            statement = sql(
                f"WITH c AS (SELECT p.id, p.search_vector AS v {_VISIBLE_FROM} "
                "WHERE p.search_vector @@ CAST(:tq AS tsquery) "
                f"AND {_VISIBLE} ORDER BY {' + '.join(weights)} DESC, p.id LIMIT :k) "
                "SELECT c.id, length(c.v), u.lexeme, cardinality(u.positions) FROM c "
                "LEFT JOIN LATERAL unnest(c.v) AS u ON u.lexeme = ANY(CAST(:lexemes AS text[])) "
            )
            rows = s.execute(statement, params).all()
        tf: dict[str, dict[str, int]] = defaultdict(dict)
        lengths: dict[str, float] = {}
        for pid, length, lexeme, count in rows:
            lengths[pid] = float(length or 0)
            if lexeme is not None:
                tf[pid][lexeme] = int(count or 1)
        scores = bm25_scores(((pid, tf[pid], lengths[pid]) for pid in lengths), plan, stats)
        return [
            LexicalHit(pid, score)
            for pid, score in sorted(scores.items(), key=lambda kv: -kv[1])[:k]
            if score > 0
        ]


class BM25Index:
    """Okapi BM25 over a fixed set of passages (an inverted index in memory)."""

    def __init__(
        self,
        rows: Sequence[tuple[str, str, str | None]],
        k1: float = 1.4,
        b: float = 0.75,
        stem: bool = True,
    ) -> None:
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
                select(Passage.id, Passage.text, Passage.language)
                .join(Document, Passage.document_id == Document.id)
                .where(
                    Passage.course_id == course_id,
                    Passage.version == Document.version,
                    Passage.status == "indexed",
                )
            ).all()
        index = BM25Index([tuple(r) for r in rows], stem=self.stem)
        with self._lock:
            self._cache[course_id] = (version, index)
        return index

    def search(
        self, course_id: int, query: str, *, k: int, language: str | None = None
    ) -> list[LexicalHit]:
        """Okapi BM25 over the course's visible passages."""
        return [
            LexicalHit(pid, score)
            for pid, score in self._index(course_id).search(query, k, language)
        ]


def build_lexical_index(db, config) -> LexicalIndex:
    """The backend ``LEXICAL_BACKEND`` names (``database`` picks FTS5 or PostgreSQL by URL)."""
    backend = str(config.get("LEXICAL_BACKEND", "database"))
    if backend == "memory":
        return MemoryBM25Index(db, stem=bool(config.get("RETRIEVAL_STEM", True)))
    if backend != "database":
        raise ValueError(f"unknown LEXICAL_BACKEND {backend!r}; choose 'database' or 'memory'")
    return SqliteFtsIndex(db, config) if db.is_sqlite else PostgresFtsIndex(db, config)

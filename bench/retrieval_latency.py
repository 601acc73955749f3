"""Retrieval latency at 10k and 100k passages on SQLite and PostgreSQL, with the shipped e5
embedder.

Usage: ``python bench/retrieval_latency.py [--sizes 10000,100000] [--engines sqlite,postgres]
[--queries 40] [--postgres URL]`` (``--sizes 10000`` alone runs in a few minutes).

One course of N synthetic passages (Zipf-distributed pseudo-words, 60-120 words a passage,
like a split chunk; language ``en``) in an SQLite file and in a fresh PostgreSQL database
(created on the server of ``--postgres``, dropped afterwards), both with the same ids so that
one Chroma server (``chroma run``, queried over HTTP by the production client) serves both.

Embedder: the app's default, ``EMBEDDER`` of app.config (multilingual-e5-small, dimension
384), built by ingest.embedding.build_embedder exactly as the app builds it. It embeds every
query and every passage of the new upload timed below. The *corpus* vectors are random unit
vectors of the same dimension, not e5 embeddings: embedding 100,000 passages with e5 on this
2-core machine would take hours, and HNSW search cost depends on the number and dimension of
vectors, not on what they mean (the pseudo-word passages mean nothing to e5 anyway).

Figures per size and engine (ms): the query embedding (reported on its own); the lexical
search (app.lexical, ``k`` = the retriever's 40 candidates) p50/p95 and its first query on
a new content version (term statistics built, :class:`app.lexical.CourseStats`); the Chroma
query; the full ``HybridRetriever.retrieve`` p50/p95 *without* the query embedding (the
embedder is wrapped so that the query vector computed beforehand is returned); and
time-to-searchable: a new upload's passages (e5-embedded, stored in Chroma and in the
database invisible, as the ingestion pipeline does before publishing) are published (the
document's version switched and the course's content version bumped in one transaction) and
the clock runs from the start of that transaction until a hybrid query (query embedded
beforehand) finds the new passage on both the lexical and the dense side.

The machine is shared: the load average before and after each engine's run is recorded, and
next to each wall-clock figure the CPU time of this process (``*_cpu_this_process``: all of
SQLite's work, none of PostgreSQL's or Chroma's, which run in their own processes), since a
``nice -n 19`` run next to a full-priority job spends most of its wall-clock time waiting for a
core. Writes bench/results/retrieval_latency.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# one torch thread per process: on a shared 2-core machine 2 threads made the encoder 10x slower
# (spin-waiting)
os.environ.setdefault("OMP_NUM_THREADS", "1")
DIM = 384
UPLOAD = [
    "Vulkanforskare mäter svavelutsläpp kring Stromboli varje natt med spektrometrar.",
    "Magman under Stromboli stiger när trycket i kammaren ökar, och då kommer utbrotten tätare.",
    "Forskarna varnar turister med sirener om lavaflödet når stranden vid Ginostra.",
]
UPLOAD_QUERY = "Hur varnar forskarna turister vid Stromboli?"


def vocabulary(size: int, rng: random.Random) -> list[str]:
    """Pronounceable pseudo-words."""
    syll = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(syll) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def passages(n: int, vocab: list[str], rng: random.Random) -> list[str]:
    """``n`` passages of 60-120 Zipf-distributed words."""
    weights = [1 / (i + 1) for i in range(len(vocab))]
    return [" ".join(rng.choices(vocab, weights, k=rng.randint(60, 120))) + "." for _ in range(n)]


def unit_vectors(n: int, rng):
    """Random unit vectors (numpy) of e5-small's dimension."""
    import numpy as np

    v = rng.standard_normal((n, DIM)).astype("float32")
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


def summary(values: list[float]) -> dict:
    """p50/p95/mean in ms."""
    return {
        "p50_ms": round(statistics.median(values), 2),
        "p95_ms": round(pct(values, 0.95), 2),
        "mean_ms": round(statistics.fmean(values), 2),
    }


class PrecomputedQueries:
    """The real embedder, except that queries embedded beforehand are answered from memory."""

    def __init__(self, embedder) -> None:
        self.inner, self.name, self.vectors = embedder, embedder.name, {}

    def remember(self, query: str) -> float:
        """Embed ``query`` now; the milliseconds it took."""
        t = time.perf_counter()
        self.vectors[query] = self.inner.embed_query(query)
        return (time.perf_counter() - t) * 1000

    def embed_query(self, text: str):
        return self.vectors[text] if text in self.vectors else self.inner.embed_query(text)

    def embed_documents(self, texts):
        return self.inner.embed_documents(texts)


def seed(db, size: int, texts: list[str]) -> tuple[int, int, list[str]]:
    """One school, course and document holding ``texts`` as indexed passages; (course, document,
    ids)."""
    from sqlalchemy import insert

    from app.services import accounts
    from core.models import Document, Passage

    with db.session() as s:
        school = accounts.create_school(s, f"Bench School {size}", "SE")
        course = accounts.create_course(s, school, f"B{size}", f"Bench {size}", "en")
        s.flush()
        doc = Document(
            course_id=course.id,
            title=f"Synthetic {size}",
            filename=f"synthetic-{size}.txt",
            content_hash="0" * 64,
            version=1,
            status="ready",
        )
        s.add(doc)
        s.flush()
        course_id, doc_id = course.id, doc.id
    ids = [f"{doc_id}:1:{i}" for i in range(size)]
    for start in range(0, size, 5000):
        with db.session() as s:
            s.execute(
                insert(Passage),
                [
                    {
                        "id": ids[i],
                        "document_id": doc_id,
                        "course_id": course_id,
                        "version": 1,
                        "ordinal": i,
                        "language": "en",
                        "text": texts[i],
                        "status": "indexed",
                        "char_start": 0,
                        "char_end": len(texts[i]),
                    }
                    for i in range(start, min(size, start + 5000))
                ],
            )
    return course_id, doc_id, ids


def time_to_searchable(db, store, retriever, embedder: PrecomputedQueries, course_id: int) -> dict:
    """Publish a new upload's version and poll hybrid retrieval until both sides find it."""
    from sqlalchemy import update

    from core.models import Course, Document, Passage

    with db.session() as s:
        doc = Document(
            course_id=course_id,
            title="Stromboli",
            filename="stromboli.md",
            content_hash="1" * 64,
            version=0,
            status="processing",
        )
        s.add(doc)
        s.flush()
        doc_id = doc.id
        ids = [f"{doc_id}:1:{i}" for i in range(len(UPLOAD))]
        s.add_all(
            Passage(
                id=ids[i],
                document_id=doc_id,
                course_id=course_id,
                version=1,
                ordinal=i,
                language="sv",
                text=t,
                status="indexed",
                char_start=0,
                char_end=len(t),
            )
            for i, t in enumerate(UPLOAD)
        )
    t = time.perf_counter()
    vectors = embedder.embed_documents(UPLOAD)
    embed_upload_ms = (time.perf_counter() - t) * 1000
    store.upsert(
        course_id, ids, vectors, UPLOAD, [{"document_id": doc_id, "version": 1}] * len(UPLOAD)
    )
    embedder.remember(UPLOAD_QUERY)
    lexical_before = retriever.lexical.search(course_id, UPLOAD_QUERY, k=40, language="sv")
    assert not any(h.id in ids for h in lexical_before), "the unpublished upload must not be found"
    t0 = time.perf_counter()
    with db.session() as s:  # the pipeline's publication: version switched, content version bumped
        s.execute(update(Document).where(Document.id == doc_id).values(version=1, status="ready"))
        s.execute(
            update(Course)
            .where(Course.id == course_id)
            .values(content_version=Course.content_version + 1)
        )
    polls = 0
    while True:
        polls += 1
        lexical = {
            h.id for h in retriever.lexical.search(course_id, UPLOAD_QUERY, k=40, language="sv")
        }
        dense = {h.id for h in store.query(course_id, embedder.embed_query(UPLOAD_QUERY), 40)}
        found = [p for p in retriever.retrieve(course_id, UPLOAD_QUERY) if p.id in ids]
        if found and lexical & set(ids) and dense & set(ids):
            break
        if time.perf_counter() - t0 > 60:
            return {"ms": None, "polls": polls, "error": "not found within 60 s"}
    return {
        "ms": round((time.perf_counter() - t0) * 1000, 1),
        "polls": polls,
        "upload_passages": len(UPLOAD),
        "embed_upload_ms": round(embed_upload_ms, 1),
        "top_hit_is_upload": found[0].id in ids,
    }


def measure(
    engine: str,
    db,
    store,
    embedder: PrecomputedQueries,
    course_id: int,
    queries: list[str],
    size: int,
) -> dict:
    """Lexical, Chroma and hybrid timings for one engine, then time-to-searchable."""
    from app.retrieval import CANDIDATES, HybridRetriever
    from core.language import detect_language

    load_before = os.getloadavg()[0]
    retriever = HybridRetriever(db, embedder, store, {"RETRIEVAL_TOP_K": 4})
    t = time.perf_counter()
    retriever.lexical.search(
        course_id, queries[0], k=CANDIDATES, language=detect_language(queries[0])
    )
    first_ms = (time.perf_counter() - t) * 1000
    dense_ms, lexical_ms, hybrid_ms, found, lexical_cpu, hybrid_cpu = [], [], [], [], [], []
    for q in queries:
        vec = embedder.vectors[q]
        t = time.perf_counter()
        store.query(course_id, vec, CANDIDATES)
        dense_ms.append((time.perf_counter() - t) * 1000)
        t, c = time.perf_counter(), time.process_time()
        hits = retriever.lexical.search(course_id, q, k=CANDIDATES, language=detect_language(q))
        lexical_ms.append((time.perf_counter() - t) * 1000)
        lexical_cpu.append((time.process_time() - c) * 1000)
        found.append(len(hits))
        t, c = time.perf_counter(), time.process_time()
        retriever.retrieve(course_id, q)
        hybrid_ms.append((time.perf_counter() - t) * 1000)
        hybrid_cpu.append((time.process_time() - c) * 1000)
    tts = time_to_searchable(db, store, retriever, embedder, course_id)
    row = {
        "engine": engine,
        "lexical_backend": retriever.lexical.name,
        "passages": size,
        "queries": len(queries),
        "lexical_first_query_ms": round(first_ms, 1),
        "lexical_query": summary(lexical_ms),
        "lexical_hits_mean": round(statistics.fmean(found), 1),
        "chroma_query": summary(dense_ms),
        "hybrid_retrieve": summary(hybrid_ms),
        "time_to_searchable": tts,
        # CPU time of this process only (SQLite runs in it; a PostgreSQL backend or the Chroma
        # server does not)
        "lexical_cpu_this_process": summary(lexical_cpu),
        "hybrid_cpu_this_process": summary(hybrid_cpu),
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    print(
        f"{engine:>8} {size:>7}: lexical p50 {row['lexical_query']['p50_ms']:.1f} p95 "
        f"{row['lexical_query']['p95_ms']:.1f} (first {first_ms:.0f}) | chroma p50 "
        f"{row['chroma_query']['p50_ms']:.1f} p95 {row['chroma_query']['p95_ms']:.1f} | hybrid "
        f"p50 {row['hybrid_retrieve']['p50_ms']:.1f} p95 {row['hybrid_retrieve']['p95_ms']:.1f} "
        f"ms | searchable after {tts['ms']} ms | load {row['load_average_1m']}",
        flush=True,
    )
    return row


def main() -> None:
    """Build the corpora, measure, print and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="10000,100000",
        help="comma-separated passage counts (10000 alone is quick)",
    )
    parser.add_argument("--engines", default="sqlite,postgres")
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "KATEDER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL URL whose server may create and drop a scratch database",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    from sqlalchemy import create_engine, text

    from app.config import DEFAULTS
    from app.db import Database
    from ingest.embedding import build_embedder
    from ingest.store import ChromaStore
    from tests.production.servers import chroma

    engines = [e for e in args.engines.split(",") if e]
    rng = random.Random(7)
    nrng = np.random.default_rng(7)
    vocab = vocabulary(20000, rng)
    tmp = Path(tempfile.mkdtemp(prefix="kateder-retrieval-bench-"))
    server = (
        chroma(tmp / "chroma", log=tmp / "chroma.log").launch().wait(600)
    )  # slow to start on a loaded machine
    dbs, admin, pg_name = {}, None, f"kateder_bench_{uuid.uuid4().hex[:10]}"
    if "sqlite" in engines:
        dbs["sqlite"] = Database(f"sqlite:///{tmp / 'bench.db'}")
    if "postgres" in engines:
        admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{pg_name}"'))
        dbs["postgres"] = Database(args.postgres.rsplit("/", 1)[0] + f"/{pg_name}")
    for db in dbs.values():
        db.migrate()
    embedder = build_embedder({"EMBEDDER": DEFAULTS["EMBEDDER"]})
    t = time.perf_counter()
    embedder.embed_query("warm up")
    embedder_load_s = time.perf_counter() - t
    queries_embedder = PrecomputedQueries(embedder)
    store = ChromaStore(host="127.0.0.1", port=server.port, embedder_name=embedder.name)
    rows, sizes = [], [int(x) for x in args.sizes.split(",") if x]
    try:
        for size in sizes:
            texts = passages(size, vocab, rng)
            seeded = {}
            for engine, db in dbs.items():
                t = time.perf_counter()
                seeded[engine] = seed(db, size, texts)
                print(
                    f"{engine}: {size} passages stored in {time.perf_counter() - t:.0f} s",
                    flush=True,
                )
            course_ids = {c for c, _, _ in seeded.values()}
            assert (
                len(course_ids) == 1 and len({tuple(i[:3]) for _, _, i in seeded.values()}) == 1
            ), "engines must share ids"
            course_id, doc_id, ids = next(iter(seeded.values()))
            t = time.perf_counter()
            vectors = unit_vectors(size, nrng)
            for start in range(0, size, 5000):
                end = min(size, start + 5000)
                store.upsert(
                    course_id,
                    ids[start:end],
                    vectors[start:end].tolist(),
                    texts[start:end],
                    [{"document_id": doc_id, "version": 1}] * (end - start),
                )
            chroma_load_s = time.perf_counter() - t
            queries = [
                " ".join(rng.sample(texts[rng.randrange(size)].rstrip(".").split(), 6))
                for _ in range(args.queries)
            ]
            embed_ms = [queries_embedder.remember(q) for q in queries]
            for engine, db in dbs.items():
                row = measure(engine, db, store, queries_embedder, course_id, queries, size)
                row.update(
                    {"chroma_load_s": round(chroma_load_s, 1), "embed_query": summary(embed_ms)}
                )
                rows.append(row)
    finally:
        server.stop()
        for db in dbs.values():
            db.dispose()
        if admin is not None:
            with admin.connect() as c:
                c.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                        f"'{pg_name}'"
                    )
                )
                c.execute(text(f'DROP DATABASE IF EXISTS "{pg_name}"'))
            admin.dispose()
    targets = {"hybrid_p95_ms": 50, "time_to_searchable_ms": 1000}
    result = {
        "bench": "retrieval_latency",
        "embedder": embedder.name,
        "embedder_load_s": round(embedder_load_s, 2),
        "corpus_vectors": (
            f"random unit vectors, dim {DIM} (the queries and the new upload are embedded with "
            f"{embedder.name}; see docstring)"
        ),
        "targets": targets,
        "rows": rows,
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
        "machine": "shared development machine (other jobs running; see load_average_1m per row)",
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = ROOT / "bench" / "results" / "retrieval_latency.json"
    if set(sizes) != {10000, 100000} or len(engines) < 2:
        out = tmp / "retrieval_latency.json"  # a partial run does not replace the full figures
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out} (load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()

"""Retrieval latency at 10k and 100k passages: real Chroma server, BM25, and the hybrid retriever.

Usage: ``python bench/retrieval_latency.py [--sizes 10000,100000] [--queries 40]``.

The corpus is synthetic (Zipf-distributed pseudo-words, 60-120 words a passage, like a
split chunk). Embedding 100k passages with MiniLM would take most of an hour on this
2-core machine, so the *corpus* vectors are random unit vectors of MiniLM's dimension
(384): HNSW search cost depends on the number and dimension of vectors, not on what they
mean. The *query* side is measured with the real MiniLM embedder, as in production. Chroma
runs as its own server (``chroma run``) and is queried over HTTP by the production client.
Figures per size: query embedding, Chroma query (k=20), BM25 search, the full
``HybridRetriever.retrieve`` (p50/p95), and the one-off BM25 index build and Chroma load.
Writes bench/results/retrieval_latency.json.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# one torch thread per process: on a shared 2-core machine 2 threads made MiniLM 10x slower (spin-waiting)
os.environ.setdefault("OMP_NUM_THREADS", "1")
DIM = 384


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
    """Random unit vectors (numpy) of MiniLM's dimension."""
    import numpy as np

    v = rng.standard_normal((n, DIM)).astype("float32")
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


def summary(values: list[float]) -> dict:
    """p50/p95/mean in ms."""
    return {"p50_ms": round(statistics.median(values), 2), "p95_ms": round(pct(values, 0.95), 2), "mean_ms": round(statistics.fmean(values), 2)}


def main() -> None:
    """Build the corpora, measure, print and write the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=40)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    from sqlalchemy import insert

    from app.db import Database
    from app.retrieval import HybridRetriever
    from app.services import accounts
    from core.models import Document, Passage
    from ingest.embedding import build_embedder
    from ingest.store import ChromaStore
    from tests.production.servers import chroma

    rng = random.Random(7)
    nrng = np.random.default_rng(7)
    vocab = vocabulary(20000, rng)
    tmp = Path(tempfile.mkdtemp(prefix="kateder-retrieval-bench-"))
    server = chroma(tmp / "chroma", log=tmp / "chroma.log").start()
    db = Database(f"sqlite:///{tmp / 'bench.db'}")
    db.migrate()
    embedder = build_embedder({"EMBEDDER": "minilm"})
    t = time.perf_counter()
    embedder.embed_query("warm up")
    embedder_load_s = time.perf_counter() - t
    store = ChromaStore(host="127.0.0.1", port=server.port, embedder_name=embedder.name)
    rows = []
    try:
        with db.session() as s:
            school = accounts.create_school(s, "Bench School", "SE")
        for size in (int(x) for x in args.sizes.split(",")):
            texts = passages(size, vocab, rng)
            with db.session() as s:
                school = s.merge(school)
                course = accounts.create_course(s, school, f"B{size}", f"Bench {size}", "en")
                s.flush()
                doc = Document(course_id=course.id, title=f"Synthetic {size}", filename=f"synthetic-{size}.txt",
                               content_hash="0" * 64, version=1, status="ready")
                s.add(doc)
                s.flush()
                course_id, doc_id = course.id, doc.id
            ids = [f"{doc_id}:1:{i}" for i in range(size)]
            with db.session() as s:
                for start in range(0, size, 5000):
                    s.execute(insert(Passage), [
                        {"id": ids[i], "document_id": doc_id, "course_id": course_id, "version": 1, "ordinal": i,
                         "text": texts[i], "status": "indexed", "char_start": 0, "char_end": len(texts[i])}
                        for i in range(start, min(size, start + 5000))
                    ])
            t = time.perf_counter()
            vectors = unit_vectors(size, nrng)
            store.upsert(course_id, ids, vectors.tolist(), texts, [{"document_id": doc_id, "version": 1}] * size)
            chroma_load_s = time.perf_counter() - t

            retriever = HybridRetriever(db, embedder, store, {"RETRIEVAL_TOP_K": 4})
            t = time.perf_counter()
            retriever.lexical.search(course_id, "warm up", k=20)  # LEXICAL_BACKEND=memory builds its index here
            bm25_build_s = time.perf_counter() - t
            queries = [" ".join(rng.sample(texts[rng.randrange(size)].rstrip(".").split(), 6)) for _ in range(args.queries)]
            embed_ms, dense_ms, bm25_ms, hybrid_ms = [], [], [], []
            for q in queries:
                t = time.perf_counter()
                vec = embedder.embed_query(q)
                embed_ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                store.query(course_id, vec, 20)
                dense_ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                retriever.lexical.search(course_id, q, k=20)
                bm25_ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                retriever.retrieve(course_id, q)
                hybrid_ms.append((time.perf_counter() - t) * 1000)
            row = {
                "passages": size, "queries": len(queries), "chroma_load_s": round(chroma_load_s, 1),
                "bm25_build_s": round(bm25_build_s, 2), "embed_query": summary(embed_ms), "chroma_query": summary(dense_ms),
                "bm25_query": summary(bm25_ms), "hybrid_retrieve": summary(hybrid_ms),
            }
            rows.append(row)
            print(f"{size:>7} passages: embed p50 {row['embed_query']['p50_ms']:.1f} ms | chroma p50 {row['chroma_query']['p50_ms']:.1f} "
                  f"p95 {row['chroma_query']['p95_ms']:.1f} ms | bm25 p50 {row['bm25_query']['p50_ms']:.1f} p95 {row['bm25_query']['p95_ms']:.1f} ms"
                  f" | hybrid p50 {row['hybrid_retrieve']['p50_ms']:.1f} p95 {row['hybrid_retrieve']['p95_ms']:.1f} ms"
                  f" | load {chroma_load_s:.0f} s, bm25 build {bm25_build_s:.1f} s")
    finally:
        server.stop()
        db.dispose()
    result = {"bench": "retrieval_latency", "embedder": embedder.name, "embedder_load_s": round(embedder_load_s, 2),
              "corpus_vectors": "random unit vectors, dim 384 (see docstring)", "rows": rows,
              "load_average": os.getloadavg(), "cpus": os.cpu_count(), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out = ROOT / "bench" / "results" / "retrieval_latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

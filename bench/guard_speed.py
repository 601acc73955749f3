"""Latency of the embedded guard: a 64-token question and a 512-token passage.

Usage: ``python bench/guard_speed.py [--n 100] [--weights DIR] [--threads 1]``.

Measures, in one run on the same texts, single-call ``classify`` latency (p50/p95) of the
shipped embedded guard as it runs in the app (int8 when the weights say so) and of the same
weights in fp32, and prints the ratio. Targets (issue: guard v2): p95 ≤ 20 ms for a question
of up to 64 tokens, p95 ≤ 50 ms for a 512-token passage. Writes
bench/results/guard_speed.json.
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

WORDS = (
    "fotosyntesen sker i kloroplasterna där ljusenergi omvandlas till kemisk energi och "
    "die Schüler lesen den Text über die Reformation und beantworten die Fragen "
    "gli studenti studiano la storia romana e scrivono un breve tema "
    "elevene leser om vikingtiden og svarer på spørsmålene the water cycle moves water"
).split()


def text_of(tokenizer, n_tokens: int, seed: int) -> str:
    """A mixed-language text of exactly ``n_tokens`` content tokens (plus prefix)."""
    words: list[str] = []
    i = seed
    while len(tokenizer.content_ids("query: " + " ".join(words))) < n_tokens:
        words.append(WORDS[i % len(WORDS)])
        i += 7
    ids = tokenizer.content_ids("query: " + " ".join(words))
    while len(ids) > n_tokens:
        words.pop()
        ids = tokenizer.content_ids("query: " + " ".join(words))
    return " ".join(words)


def timings(guard, texts: list[str], role: str) -> dict:
    """p50/p95 of single-message classify calls, in milliseconds."""
    from guard.types import Message

    guard.classify([Message(role, texts[0])], role=role)  # warm-up
    times = []
    for text in texts:
        start = time.perf_counter()
        guard.classify([Message(role, text)], role=role)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))], 2),
        "n": len(times),
    }


def main() -> None:
    """Measure the shipped precision and the other one on the same texts; print and write."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()
    import torch

    from guard.embedded import WEIGHTS_DIR, EmbeddedGuard, EmbeddedModel, load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    weights = args.weights or WEIGHTS_DIR
    shipped = EmbeddedGuard(weights_dir=weights)
    model = load_model(weights)
    tok = model.tokenizer
    questions = [text_of(tok, 62, i) for i in range(args.n)]
    passages = [text_of(tok, 510, i) for i in range(max(10, args.n // 4))]
    rows = {}
    rows["shipped"] = {
        "int8": model.int8,
        "question_64": timings(shipped, questions, "user"),
        "passage_512": timings(shipped, passages, "agent"),
    }
    other = "fp32" if model.int8 else "int8"  # the same weights in the other precision
    alt = EmbeddedGuard(weights_dir=weights, model=EmbeddedModel(weights, int8=not model.int8))
    rows[other] = {
        "question_64": timings(alt, questions, "user"),
        "passage_512": timings(alt, passages, "agent"),
    }
    for key in ("question_64", "passage_512"):
        rows["shipped"][key][f"speedup_vs_{other}"] = round(
            rows[other][key]["p50_ms"] / max(rows["shipped"][key]["p50_ms"], 1e-3), 2
        )
    result = {
        "bench": "guard_speed",
        "model": model.meta.get("model"),
        "threads": torch.get_num_threads(),
        "rows": rows,
        "targets": {"question_64_p95_ms": 20, "passage_512_p95_ms": 50},
        "load_average": os.getloadavg(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for name, row in rows.items():
        q, p = row["question_64"], row["passage_512"]
        print(
            f"{name:8} question(64 tok) p50 {q['p50_ms']:7.2f} p95 {q['p95_ms']:7.2f} ms   "
            f"passage(512 tok) p50 {p['p50_ms']:7.2f} p95 {p['p95_ms']:7.2f} ms"
        )
    out = ROOT / "bench" / "results" / "guard_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

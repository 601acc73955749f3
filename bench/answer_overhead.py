"""What the full ask pipeline adds to raw generation, measured side by side in one process.

For each question: raw llama-cpp-python streaming of the exact messages the pipeline sends
(same GGUF, same sampling parameters, temperature 0 so both write the same tokens) versus
``AskService.stream`` with both guards, retrieval, grounding and audit. Runs alternate so
drift hits both. Prints both times, the overhead ratio (target <= 1.15) and the time to the
first streamed sentence; writes bench/results/answer_overhead.json.

    python bench/answer_overhead.py [--repeats 2] [--max-tokens 160]

Open WebUI 0.12.4 is not compared here (not installed; see docs/retrieval.md).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QUESTIONS = [
    "What do plants make from carbon dioxide and water?",
    "Where does photosynthesis happen?",
    "Why do leaves look green?",
    "What is evaporation?",
    "How are clouds formed?",
    "Why do animals need plants?",
]


class Recording:
    """Passes the generator through, remembering the messages of the last call."""

    def __init__(self, inner) -> None:
        self.inner, self.info, self.last = inner, inner.info, None

    def stream(self, messages):
        self.last = list(messages)
        return self.inner.stream(messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--questions", type=int, default=len(QUESTIONS), help="how many of the questions to ask")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads (1 on a busy machine: its threads spin)")
    args = parser.parse_args()
    questions = QUESTIONS[: args.questions]

    from llama_cpp import Llama
    from sqlalchemy import select

    from app import create_app, get_services
    from app.demo import create_demo
    from app.generation import build_generator
    from app.models import User
    from app.models_path import smollm2_gguf

    home = Path(tempfile.mkdtemp(prefix="kateder-bench-"))
    config = {"HOME": str(home), "SECRET_KEY": "bench", "GENERATOR_TEMPERATURE": 0.0, "GENERATOR_MAX_TOKENS": args.max_tokens,
              "GENERATOR_THREADS": args.threads}
    t = time.perf_counter()
    generator = Recording(build_generator({**config, "GENERATOR": "llamacpp"}))
    services = get_services(create_app(config, services={"generator": generator}))
    services.db.migrate()
    create_demo(services)
    with services.db.session() as s:
        uid = s.scalar(select(User.id).where(User.username == "teacher"))
    setup_s = time.perf_counter() - t
    print(f"setup (models, demo school) {setup_s:.1f} s", flush=True)

    chat = generator.inner.model  # the LangChain ChatLlamaCpp: same parameters for the raw run
    params = chat._get_parameters(None)
    raw = Llama(model_path=str(smollm2_gguf()), n_ctx=chat.n_ctx, n_threads=chat.n_threads, verbose=False)

    def run_raw(messages):
        dicts = [{"role": {"human": "user", "ai": "assistant"}.get(r, r), "content": c} for r, c in messages]
        start = time.perf_counter()
        first, text = None, ""
        for chunk in raw.create_chat_completion(messages=dicts, stream=True, **params):
            piece = chunk["choices"][0]["delta"].get("content") or ""
            text += piece
            if first is None and any(p in text for p in ".!?\n"):
                first = time.perf_counter() - start
        return time.perf_counter() - start, first, text

    def run_pipeline(question):
        start = time.perf_counter()
        first, result = None, None
        for event in services.ask.stream(uid, "SCI7", question):
            if event["type"] == "sentence" and first is None:
                first = time.perf_counter() - start
            if event["type"] == "done":
                result = event["result"]
        return time.perf_counter() - start, first, result

    # warm-up: load every model, fill the caches, record the messages each question sends
    messages = {}
    for q in questions:
        _, _, result = run_pipeline(q)
        messages[q] = generator.last if result.mode == "generated" else None
        print(f"warm-up: {q[:40]} -> {result.mode}", flush=True)
    asked = [q for q in questions if messages[q]]
    for q in asked:
        run_raw(messages[q])

    rows = []
    for r in range(args.repeats):
        for q in asked:
            pair = [("raw", lambda q=q: run_raw(messages[q])), ("pipeline", lambda q=q: run_pipeline(q))]
            if r % 2:
                pair.reverse()
            out = {}
            for name, fn in pair:
                out[name] = fn()
            raw_s, raw_first, raw_text = out["raw"]
            pipe_s, pipe_first, result = out["pipeline"]
            rows.append({"question": q, "raw_s": raw_s, "raw_first_sentence_s": raw_first, "pipeline_s": pipe_s,
                         "pipeline_first_sentence_s": pipe_first, "mode": result.mode, "raw_chars": len(raw_text),
                         "timings_ms": result.timings_ms, "grounding": result.grounding})
            print(f"{q[:40]:40} raw {raw_s:5.2f}s  pipeline {pipe_s:5.2f}s  first sentence {pipe_first or 0:4.2f}s  ({result.mode})", flush=True)

    raw_total = sum(r["raw_s"] for r in rows)
    pipe_total = sum(r["pipeline_s"] for r in rows)
    parts = {k: round(statistics.mean(r["timings_ms"].get(k, 0.0) for r in rows), 1) for k in ("input_guard", "audit_question", "retrieval", "generation", "output_guard", "audit_answer")}
    summary = {
        "questions": len(asked), "repeats": args.repeats, "max_tokens": args.max_tokens,
        "raw_mean_s": round(raw_total / len(rows), 3), "pipeline_mean_s": round(pipe_total / len(rows), 3),
        "overhead_ratio": round(pipe_total / raw_total, 3), "target_ratio": 1.15,
        "first_sentence_median_s": round(statistics.median(r["pipeline_first_sentence_s"] or r["pipeline_s"] for r in rows), 3),
        "raw_first_sentence_median_s": round(statistics.median(r["raw_first_sentence_s"] or r["raw_s"] for r in rows), 3),
        "pipeline_parts_mean_ms": parts, "setup_s": round(setup_s, 1),
        "embedder": services.embedder.name, "guard": type(services.guard).__name__, "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(summary, indent=1))
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "answer_overhead.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))
    services.db.dispose()


if __name__ == "__main__":
    main()

"""What the full ask pipeline adds to raw generation, and Open WebUI beside it, in one run.

For each question, in rotating order:

* **raw**: llama-cpp-python streaming the exact messages the pipeline sends (same GGUF,
  same sampling, temperature 0, so both write the same tokens; ``same_text`` checks it);
* **pipeline**: ``AskService.stream`` with both guards, retrieval, grounding and audit, the
  output guard reading a window of ``OUTPUT_GUARD_WINDOW`` sentences before each sentence and
  the whole answer before the final one (``--guard-window`` overrides it);
* **pipeline-whole** (``--compare-window 0``, the default): the same pipeline with the output
  guard reading the whole answer so far before every sentence (the scheme before issue 15),
  same components, same database;
* **open-webui**: the same messages through Open WebUI 0.12.4's ``/api/chat/completions``,
  its OpenAI connection pointed at ``python -m llama_cpp.server`` on the same GGUF
  (Open WebUI as a proxy, no guard);
* **open-webui-rag**: the bare question through Open WebUI with the course material in one
  of its knowledge bases (its own retrieval and RAG prompt; still no guard).

Prints the figures and ratios (targets: pipeline <= 1.10 x raw, goal 1.05; first sentence
<= 0.6 s), writes bench/results/answer_overhead.json, docs/benchmarks.md (through
bench/report.py) and the performance section of docs/retrieval.md. Open WebUI runs from its
own venv (see bench/openwebui.py); without one it is skipped. Runs from a fresh clone with
the project installed (``pip install -e .``): the models ship in packages.

    python -m bench.answer_overhead [--repeats 2] [--max-tokens 160]
        [--openwebui-venv PATH | --no-openwebui]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# run as ``python -m bench.answer_overhead``; ROOT first, so the project's packages win

from bench.openwebui import openai_messages, sampling_extra  # noqa: E402

QUESTIONS = [
    "What do plants make from carbon dioxide and water?",
    "Where does photosynthesis happen?",
    "Why do leaves look green?",
    "What is evaporation?",
    "How are clouds formed?",
    "Why do animals need plants?",
]


TARGET_RATIO, GOAL_RATIO, TARGET_FIRST_S = 1.10, 1.05, 0.6


class CountingGuard:
    """Passes the guard through, counting the answer checks (the output guard's calls)."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.answer_checks = inner, getattr(inner, "name", "guard"), 0

    def classify(self, conversation, *, role):
        if (
            role == "agent" and len(conversation) > 1
        ):  # an answer after its question (Moderator.check_answer)
            self.answer_checks += 1
        return self.inner.classify(conversation, role=role)


class Recording:
    """Passes the generator through, remembering the messages of the last call."""

    def __init__(self, inner) -> None:
        self.inner, self.info, self.last, self.text = inner, inner.info, None, ""

    def stream(self, messages):
        self.last, self.text = list(messages), ""
        for piece in self.inner.stream(messages):
            self.text += piece
            yield piece


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument(
        "--questions", type=int, default=len(QUESTIONS), help="how many of the questions to ask"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="llama.cpp threads (1 on a busy machine: its threads spin)",
    )
    parser.add_argument(
        "--openwebui-venv",
        type=Path,
        default=Path("/work/owui/venv"),
        help="venv with open-webui==0.12.4",
    )
    parser.add_argument("--no-openwebui", action="store_true")
    parser.add_argument(
        "--guard-window",
        type=int,
        default=None,
        help="OUTPUT_GUARD_WINDOW of the pipeline side (default: configured)",
    )
    parser.add_argument(
        "--compare-window",
        type=int,
        default=0,
        help=(
            "OUTPUT_GUARD_WINDOW of a second pipeline side (default 0: the whole answer before "
            "every sentence); -1: none"
        ),
    )
    parser.add_argument(
        "--no-docs",
        action="store_true",
        help="do not rewrite docs/benchmarks.md and docs/retrieval.md",
    )
    args = parser.parse_args()
    questions = QUESTIONS[: args.questions]

    from llama_cpp import Llama
    from sqlalchemy import select

    from app import create_app
    from app.demo import create_demo
    from app.generation import build_generator
    from app.services import get_services
    from core.model_files import smollm2_gguf
    from core.models import User
    from guard import build_guard

    home = Path(tempfile.mkdtemp(prefix="kateder-bench-"))
    config = {
        "HOME": str(home),
        "SECRET_KEY": "bench",
        "GENERATOR_TEMPERATURE": 0.0,
        "GENERATOR_MAX_TOKENS": args.max_tokens,
        "GENERATOR_THREADS": args.threads,
    }
    if args.guard_window is not None:
        config["OUTPUT_GUARD_WINDOW"] = args.guard_window
    t = time.perf_counter()
    generator = Recording(build_generator({**config, "GENERATOR": "llamacpp"}))
    guard = CountingGuard(
        build_guard(config)
    )  # the configured guard (GUARD_BACKEND, default chain)
    services = get_services(create_app(config, services={"generator": generator, "guard": guard}))
    services.db.migrate()
    create_demo(services)
    pipelines = {"pipeline": services}
    generators = {"pipeline": generator}
    if args.compare_window >= 0 and args.compare_window != services.ask.answerer.guard_window:
        # the same guard, embedder, store and database, another output guard window; its own model
        # instance, since llama.cpp keeps the last prompt cached and the other side just sent this
        # one
        side = (
            "pipeline-whole"
            if args.compare_window == 0
            else f"pipeline-window-{args.compare_window}"
        )
        shared = {name: getattr(services, name) for name in ("guard", "embedder", "vector_store")}
        generators[side] = Recording(build_generator({**config, "GENERATOR": "llamacpp"}))
        pipelines[side] = get_services(
            create_app(
                {**config, "OUTPUT_GUARD_WINDOW": args.compare_window},
                services={**shared, "generator": generators[side]},
            )
        )
    with services.db.session() as s:
        uid = s.scalar(select(User.id).where(User.username == "teacher"))
    setup_s = time.perf_counter() - t
    print(f"setup (models, demo school) {setup_s:.1f} s", flush=True)

    chat = generator.inner.model  # the LangChain ChatLlamaCpp: same parameters for the raw run
    params = chat._get_parameters(None)
    raw = Llama(
        model_path=str(smollm2_gguf()),
        n_ctx=chat.n_ctx,
        n_threads=chat.n_threads,
        n_batch=chat.n_batch,
        verbose=False,
    )

    def run_raw(messages):
        dicts = openai_messages(messages)
        start = time.perf_counter()
        first, text = None, ""
        for chunk in raw.create_chat_completion(messages=dicts, stream=True, **params):
            piece = chunk["choices"][0]["delta"].get("content") or ""
            text += piece
            if first is None and any(p in text for p in ".!?\n"):
                first = time.perf_counter() - start
        return time.perf_counter() - start, first, text

    def run_pipeline(question, side="pipeline"):
        checks = guard.answer_checks
        start = time.perf_counter()
        first, result = None, None
        for event in pipelines[side].ask.stream(uid, "SCI7", question):
            if event["type"] == "sentence" and first is None:
                first = time.perf_counter() - start
            if event["type"] == "done":
                result = event["result"]
        return (
            time.perf_counter() - start,
            first,
            result,
            generators[side].text,
            guard.answer_checks - checks,
        )

    # warm-up: load every model, fill the caches, record the messages each question sends
    messages = {}
    for q in questions:
        _, _, result, _, _ = run_pipeline(q)
        messages[q] = generator.last if result.mode == "generated" else None
        for side in list(pipelines)[1:]:  # load its model too
            run_pipeline(q, side)
        print(f"warm-up: {q[:40]} -> {result.mode}", flush=True)
    asked = [q for q in questions if messages[q]]
    for q in asked:
        run_raw(messages[q])

    with contextlib.ExitStack() as stack:
        owui = None if args.no_openwebui else start_openwebui(stack, args, chat, services)
        sides = {"raw": lambda q: run_raw(messages[q])}
        sides.update({side: (lambda q, side=side: run_pipeline(q, side)) for side in pipelines})
        if owui is not None:
            ask = {
                "max_tokens": params["max_tokens"],
                "temperature": params["temperature"],
                "extra": sampling_extra(params),
            }
            sides["open-webui"] = lambda q: owui["ui"].chat(openai_messages(messages[q]), **ask)
            if owui.get("knowledge"):
                sides["open-webui-rag"] = lambda q: owui["ui"].rag_chat(q, owui["knowledge"], **ask)
            for q in asked:  # warm-up of the server's caches
                for name in ("open-webui", "open-webui-rag"):
                    if name in sides:
                        sides[name](q)
        rows = []
        names = list(sides)
        load_start = os.getloadavg()[0]
        for r in range(args.repeats):
            for i, q in enumerate(asked):
                shift = (r * len(asked) + i) % len(
                    names
                )  # rotate who goes first: drift hits every side
                out = {name: sides[name](q) for name in names[shift:] + names[:shift]}
                raw_s, raw_first, raw_text = out["raw"]
                pipe_s, pipe_first, result, model_text, checks = out["pipeline"]
                row = {
                    "question": q,
                    "same_text": raw_text == model_text,
                    "model_text": model_text,
                    "raw_text": raw_text,
                    "raw_s": raw_s,
                    "raw_first_sentence_s": raw_first,
                    "pipeline_s": pipe_s,
                    "pipeline_first_sentence_s": pipe_first,
                    "mode": result.mode,
                    "raw_chars": len(raw_text),
                    "timings_ms": result.timings_ms,
                    "grounding": result.grounding,
                    "output_guard_checks": checks,
                }
                line = (
                    f"{q[:36]:36} raw {raw_s:5.2f}s  pipeline {pipe_s:5.2f}s (first sentence "
                    f"{pipe_first or 0:4.2f}s, {result.mode}, {checks} output checks)"
                )
                for side in list(pipelines)[1:]:
                    s_s, s_first, s_result, s_text, s_checks = out[side]
                    row[side] = {
                        "s": s_s,
                        "first_sentence_s": s_first,
                        "mode": s_result.mode,
                        "timings_ms": s_result.timings_ms,
                        "output_guard_checks": s_checks,
                        "same_text": s_text == raw_text,
                    }
                    line += f"  {side} {s_s:5.2f}s ({s_checks} checks)"
                for name in ("open-webui", "open-webui-rag"):
                    if name in out:
                        total, first, text = out[name]
                        row.update(
                            {
                                f"{name}_s": total,
                                f"{name}_first_sentence_s": first,
                                f"{name}_text": text,
                            }
                        )
                        line += f"  {name} {total:5.2f}s"
                row["openwebui_same_text"] = (
                    row.get("open-webui_text") == raw_text if owui else None
                )
                rows.append(row)
                print(line, flush=True)
        owui_info = {k: v for k, v in (owui or {}).items() if k not in ("ui", "knowledge")}

    raw_total = sum(r["raw_s"] for r in rows)
    pipe_total = sum(r["pipeline_s"] for r in rows)
    stages = (
        "input_guard",
        "audit_question",
        "retrieval",
        "generation",
        "output_guard",
        "audit_answer",
    )
    parts = {
        k: round(statistics.mean(r["timings_ms"].get(k, 0.0) for r in rows), 1) for k in stages
    }
    summary = {
        "questions": len(asked),
        "repeats": args.repeats,
        "max_tokens": args.max_tokens,
        "raw_mean_s": round(raw_total / len(rows), 3),
        "pipeline_mean_s": round(pipe_total / len(rows), 3),
        "overhead_ratio": round(pipe_total / raw_total, 3),
        "target_ratio": TARGET_RATIO,
        "goal_ratio": GOAL_RATIO,
        "first_sentence_median_s": round(
            statistics.median(r["pipeline_first_sentence_s"] or r["pipeline_s"] for r in rows), 3
        ),
        "target_first_sentence_s": TARGET_FIRST_S,
        "raw_first_sentence_median_s": round(
            statistics.median(r["raw_first_sentence_s"] or r["raw_s"] for r in rows), 3
        ),
        "pipeline_parts_mean_ms": parts,
        "setup_s": round(setup_s, 1),
        "output_guard_window": services.ask.answerer.guard_window,
        "output_guard_checks_mean": round(
            statistics.mean(r["output_guard_checks"] for r in rows), 2
        ),
        "embedder": services.embedder.name,
        "guard": type(guard.inner).__name__,
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg()[0],
        "load_average_start": load_start,
        "same_text": sum(r["same_text"] for r in rows),
        "rows": len(rows),
        "threads": args.threads,
    }
    for side in list(pipelines)[1:]:
        total = sum(r[side]["s"] for r in rows)
        summary[side] = {
            "output_guard_window": pipelines[side].ask.answerer.guard_window,
            "mean_s": round(total / len(rows), 3),
            "overhead_ratio": round(total / raw_total, 3),
            "first_sentence_median_s": round(
                statistics.median(r[side]["first_sentence_s"] or r[side]["s"] for r in rows), 3
            ),
            "parts_mean_ms": {
                k: round(statistics.mean(r[side]["timings_ms"].get(k, 0.0) for r in rows), 1)
                for k in stages
            },
            "output_guard_checks_mean": round(
                statistics.mean(r[side]["output_guard_checks"] for r in rows), 2
            ),
            "same_text": sum(r[side]["same_text"] for r in rows),
        }
    for name in ("open-webui", "open-webui-rag"):
        if rows and f"{name}_s" in rows[0]:
            total = sum(r[f"{name}_s"] for r in rows)
            summary[f"{name}_mean_s"] = round(total / len(rows), 3)
            summary[f"{name}_first_sentence_median_s"] = round(
                statistics.median(r[f"{name}_first_sentence_s"] or r[f"{name}_s"] for r in rows), 3
            )
            summary[f"pipeline_vs_{name}"] = round(pipe_total / total, 3)
    if owui_info:
        summary["open_webui"] = owui_info
        summary["open-webui_same_text"] = sum(bool(r["openwebui_same_text"]) for r in rows)
    print(json.dumps(summary, indent=1))
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "answer_overhead.json").write_text(
        json.dumps({"summary": summary, "rows": rows}, indent=1)
    )
    if not args.no_docs:
        write_docs(summary)
        from bench import report

        report.main([])  # docs/benchmarks.md (section 1) and docs/scaling.md from the results
    for side in pipelines.values():
        side.db.dispose()


def start_openwebui(stack: contextlib.ExitStack, args, chat, services) -> dict | None:
    """llama_cpp.server + Open WebUI on loopback for the rest of the run (None: no Open WebUI
    venv)."""
    if not (args.openwebui_venv / "bin" / "open-webui").exists():
        print(
            f"Open WebUI skipped: no open-webui in {args.openwebui_venv} (see bench/openwebui.py)",
            flush=True,
        )
        return None
    from bench.openwebui import OpenWebUI, free_port, start_llama_server
    from core.model_files import minilm_dir, smollm2_gguf

    llama = stack.enter_context(
        start_llama_server(
            str(smollm2_gguf()),
            free_port(),
            n_threads=chat.n_threads,
            n_ctx=chat.n_ctx,
            n_batch=chat.n_batch,
        )
    )
    ui = stack.enter_context(
        OpenWebUI(llama.base_url, venv=args.openwebui_venv, embedding_model=str(minilm_dir()))
    )
    info = {
        "ui": ui,
        "version": "0.12.4",
        "startup_s": round(ui.startup_s, 1),
        "llama_server_startup_s": round(llama.startup_s, 1),
    }
    from app.demo import COURSES, MATERIAL

    files = next(c["files"] for c in COURSES if c["code"] == "SCI7")
    material = "\n\n".join((MATERIAL / name).read_text(encoding="utf-8") for name in files)
    t = time.perf_counter()
    info["knowledge"] = ui.add_knowledge("SCI7", material, "sci7.md")
    info["knowledge_build_s"] = round(time.perf_counter() - t, 1)
    info["rss_mb"] = round(ui.rss_mb())
    print(
        f"Open WebUI ready in {ui.startup_s:.1f} s (RSS {info['rss_mb']} MiB), knowledge base "
        f"built in {info['knowledge_build_s']} s",
        flush=True,
    )
    return info


def write_docs(s: dict) -> None:
    """Replace the generated performance table of docs/retrieval.md."""
    rows = [
        (
            "raw llama-cpp-python (same messages, same sampling)",
            s["raw_mean_s"],
            s["raw_first_sentence_median_s"],
            "1.00",
        ),
        (
            "**Kateder pipeline** (guard in + out, output guard window "
            f"{s['output_guard_window']} + whole answer before the final sentence, e5 + BM25 "
            "retrieval, grounding, audit)",
            s["pipeline_mean_s"],
            s["first_sentence_median_s"],
            f"**{s['overhead_ratio']}**",
        ),
    ]
    for side in ("pipeline-whole", *(k for k in s if k.startswith("pipeline-window-"))):
        if side in s:
            label = (
                "Kateder pipeline, output guard reading the whole answer so far before every "
                "sentence (before issue 15)"
                if side == "pipeline-whole"
                else f"Kateder pipeline, output guard window {s[side]['output_guard_window']}"
            )
            rows.append(
                (
                    label,
                    s[side]["mean_s"],
                    s[side]["first_sentence_median_s"],
                    f"{s[side]['overhead_ratio']}",
                )
            )
    labels = {
        "open-webui": "Open WebUI 0.12.4, same messages, via llama_cpp.server (no guard)",
        "open-webui-rag": (
            "Open WebUI 0.12.4, bare question + its own RAG on the course files (no guard)"
        ),
    }
    for name, label in labels.items():
        if f"{name}_mean_s" in s:
            rows.append(
                (
                    label,
                    s[f"{name}_mean_s"],
                    s[f"{name}_first_sentence_median_s"],
                    f"{s[f'{name}_mean_s'] / s['raw_mean_s']:.3f}",
                )
            )
    lines = [
        "<!-- overhead:start (generated by bench/answer_overhead.py; do not edit by hand) -->",
        "",
        f"{s['questions']} questions × {s['repeats']} repeats, bundled SmolLM2-135M, at most "
        f"{s['max_tokens']} tokens, {s['threads']} llama.cpp threads, {s['cpu_count']} cores "
        f"(load average {s['load_average']:.1f}); the pipeline's model wrote the same text as raw "
        f"llama-cpp-python in {s['same_text']} of {s['rows']} answers.",
        "",
        "| side | mean per answer (s) | median to first sentence (s) | × raw |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    lines += [
        "",
        "Mean parts of a pipeline answer (ms): "
        + ", ".join(f"{k} {v}" for k, v in s["pipeline_parts_mean_ms"].items())
        + f"; {s['output_guard_checks_mean']} output guard checks an answer.",
    ]
    if "pipeline-whole" in s:
        w = s["pipeline-whole"]
        lines += [
            "Reading the whole answer before every sentence instead: output_guard "
            f"{w['parts_mean_ms']['output_guard']} ms, {w['output_guard_checks_mean']} checks an "
            "answer."
        ]
    lines += [
        "",
        f"Targets: ≤ {s['target_ratio']} × raw (goal {s['goal_ratio']}), first sentence ≤ "
        f"{s['target_first_sentence_s']} s. Load average "
        f"{s.get('load_average_start', s['load_average']):.1f} at the start of the timed rounds, "
        f"{s['load_average']:.1f} at the end.",
    ]
    if "pipeline_vs_open-webui" in s:
        lines += [
            "",
            "Kateder with both guards against Open WebUI sending the same messages: "
            f"**{s['pipeline_vs_open-webui']}** of its time"
            + (
                "; against Open WebUI answering with its own retrieval: "
                f"**{s['pipeline_vs_open-webui-rag']}**"
                if "pipeline_vs_open-webui-rag" in s
                else ""
            )
            + " (below 1: Kateder is faster). Open WebUI started in "
            f"{s['open_webui']['startup_s']} s and used {s['open_webui'].get('rss_mb')} MiB.",
        ]
    lines += ["", "<!-- overhead:end -->"]
    doc = ROOT / "docs" / "retrieval.md"
    text = doc.read_text()
    block = "\n".join(lines)
    text = re.sub(r"<!-- overhead:start.*?<!-- overhead:end -->", lambda _: block, text, flags=re.S)
    doc.write_text(text)


if __name__ == "__main__":
    main()

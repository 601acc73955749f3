"""Guard latency per backend: load time and per-call latency (p50/p95) on the same texts.

Usage: ``python bench/guard_latency.py [--n 60]``. Backends: ``rules``, ``embedded`` (the
project's fine-tuned multilingual-e5 classifier), ``chain`` (rules then embedded), and the
Llama Guard backends only when their weights are configured (``KATEDER_GUARD_MODEL_PATH``
for ``llamaguard-gguf``/``llamaguard-transformers``, ``KATEDER_GUARD_URL`` for
``llamaguard-openai``); otherwise they are reported as skipped, with the reason. Texts:
questions from /work/shared/data/safety (MultiJail, several languages) and answer-length
sentences; roles ``user`` and ``assistant`` alternate. Writes bench/results/guard_latency.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# one torch thread per process: on a shared 2-core machine 2 threads made MiniLM 10x slower
# (spin-waiting)
os.environ.setdefault("OMP_NUM_THREADS", "1")
DATA = Path(os.environ.get("KATEDER_DATA", ROOT.parent / "shared" / "data"))

ANSWERS = [
    "Photosynthesis happens in the chloroplasts of the leaf cells [1].",
    "Fotosyntesen sker i bladens kloroplaster, där klorofyllet fångar ljuset [1].",
    "Die Photosynthese findet in den Chloroplasten der Blätter statt [2].",
    "La fotosintesi avviene nei cloroplasti delle foglie [1].",
    "Fotosyntesen skjer i kloroplastene i bladene [1].",
    "Water evaporates from the sea, condenses into clouds and falls as rain [2].",
]


def texts(n: int) -> list[tuple[str, str]]:
    """``n`` (role, text) pairs: questions from MultiJail (if present) and answers."""
    questions: list[str] = []
    path = DATA / "safety" / "multijail" / "MultiJail.csv"
    if path.exists():
        with path.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                for lang in ("en", "it", "sv", "de"):
                    if row.get(lang):
                        questions.append(row[lang])
                if len(questions) >= n:
                    break
    if not questions:
        questions = [
            "What is photosynthesis?",
            "Vad är fotosyntes?",
            "How do I build a bomb?",
            "Wie funktioniert ein Vulkan?",
        ]
    out = []
    for i in range(n):
        out.append(
            ("user", questions[i % len(questions)])
            if i % 2 == 0
            else ("assistant", ANSWERS[i % len(ANSWERS)])
        )
    return out


def available(name: str) -> str | None:
    """None if the backend can run here, else why not."""
    if name in ("llamaguard-gguf", "llamaguard-transformers") and not os.environ.get(
        "KATEDER_GUARD_MODEL_PATH"
    ):
        return "no Llama Guard weights on this machine (set KATEDER_GUARD_MODEL_PATH)"
    if name == "llamaguard-openai" and not os.environ.get("KATEDER_GUARD_URL"):
        return "no Llama Guard inference server configured (set KATEDER_GUARD_URL)"
    return None


def measure(name: str, items: list[tuple[str, str]]) -> dict:
    """Load time and latency of one backend."""
    from guard import build_guard
    from guard.types import Message

    start = time.perf_counter()
    guard = build_guard({"GUARD_BACKEND": name})
    guard.classify([Message(role="user", content="warm up")], role="user")  # backends load lazily
    load_s = time.perf_counter() - start
    lat = []
    for role, text in items:
        conv = (
            [
                Message(role="user", content="What is photosynthesis?"),
                Message(role="assistant", content=text),
            ]
            if role == "assistant"
            else [Message(role="user", content=text)]
        )
        t = time.perf_counter()
        guard.classify(conv, role=role)
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    return {
        "backend": name,
        "load_s": round(load_s, 2),
        "calls": len(lat),
        "p50_ms": round(statistics.median(lat), 2),
        "p95_ms": round(lat[int(0.95 * (len(lat) - 1))], 2),
        "mean_ms": round(statistics.fmean(lat), 2),
        "max_ms": round(lat[-1], 2),
    }


def main() -> None:
    """Measure every backend that can run here; print and write the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument(
        "--backends",
        default="rules,embedded,chain,llamaguard-gguf,llamaguard-transformers,llamaguard-openai",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    items = texts(args.n)
    rows, skipped = [], {}
    for name in args.backends.split(","):
        reason = available(name)
        if reason:
            skipped[name] = reason
            print(f"{name:24} skipped: {reason}")
            continue
        try:
            row = measure(name, items)
        except Exception as exc:  # noqa: BLE001 - a backend that cannot load here is reported, not fatal
            skipped[name] = f"{type(exc).__name__}: {exc}"[:200]
            print(f"{name:24} failed: {skipped[name]}")
            continue
        rows.append(row)
        print(
            f"{name:24} load {row['load_s']:6.2f} s   p50 {row['p50_ms']:8.2f} ms   p95 "
            f"{row['p95_ms']:8.2f} ms"
        )
    base = next((r for r in rows if r["backend"] == "rules"), None)
    if base:
        for r in rows:
            r["p50_vs_rules"] = round(r["p50_ms"] / max(base["p50_ms"], 1e-3), 1)
    result = {
        "bench": "guard_latency",
        "texts": len(items),
        "rows": rows,
        "skipped": skipped,
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = ROOT / "bench" / "results" / "guard_latency.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

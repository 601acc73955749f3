"""Load test: 30 simulated students ask 5 questions each over HTTP against the production stack.

Usage: ``python bench/load_test.py [--students 30] [--questions 5] [--max-tokens 16]``.

Starts the production shape on loopback (tests/production/servers.py: a fresh PostgreSQL
database, ``chroma run``, SmolLM2 behind ``python -m llama_cpp.server``, gunicorn with 2
workers, ``kateder worker``), enrols the students in SCI7, and lets every student ask its
questions one after the other, all students at once. Prints p50/p95 latency, errors, and
checks in PostgreSQL afterwards that every question has exactly one ``question`` audit
event and one answer record, and that the hash chain verifies. Writes
bench/results/load_test.json (with the per-stage timings the answers report, which
docs/scaling.md uses).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "Where does photosynthesis happen?",
    "What do plants need for photosynthesis?",
    "What is chlorophyll?",
    "Why is photosynthesis important?",
    "What gas do plants give off?",
    "What is evaporation?",
    "How do clouds form?",
    "What is precipitation?",
    "Where does the water in rivers come from?",
    "What drives the water cycle?",
]


def pct(values: list[float], q: float) -> float:
    """Nearest-rank quantile."""
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


def enrol_students(database_url: str, n: int, home: str) -> dict[str, str]:
    """Create ``n`` students in SCI7 and return username -> bearer token."""
    from sqlalchemy import select

    from app.config import load_config
    from app.db import Database
    from app.services import accounts
    from core.models import Course, School

    db = Database(database_url)
    tokens = {}
    try:
        with db.session() as s:
            school = s.scalar(select(School))
            course = s.scalar(select(Course).where(Course.code == "SCI7"))
            ttl = int(load_config({"HOME": home}).get("TOKEN_TTL_HOURS", 12))
            for i in range(n):
                user = accounts.create_user(
                    s, school, f"load{i:02d}", f"pw-{i}-{random.random()}", "student"
                )
                accounts.enrol(s, user, course)
                s.flush()
                tokens[user.username] = accounts.issue_token(s, user, ttl)
    finally:
        db.dispose()
    return tokens


def ask(url: str, token: str, question: str) -> tuple[int, float, dict]:
    """One question over HTTP: (status, seconds, body)."""
    req = urllib.request.Request(
        url + "/api/v1/courses/SCI7/ask",
        json.dumps({"question": question}).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=1800) as r:  # noqa: S310 - loopback
            body = json.loads(r.read())
            return r.status, time.perf_counter() - t, body
    except urllib.error.HTTPError as e:
        return e.code, time.perf_counter() - t, {"error": e.read().decode()[:300]}
    except OSError as e:
        return 0, time.perf_counter() - t, {"error": repr(e)}


def check_audit(database_url: str, results: list[dict]) -> dict:
    """Exactly one ``question`` event per answered question, its answer on record, chain intact."""
    from sqlalchemy import select

    from app.db import Database
    from app.services.audit import verify_chain
    from core.models import AuditEvent

    db = Database(database_url)
    try:
        with db.session() as s:
            events = s.execute(select(AuditEvent.id, AuditEvent.action, AuditEvent.details)).all()
            chain = verify_chain(s)
    finally:
        db.dispose()
    questions = Counter(d.get("conversation_id") for _, a, d in events if a == "question")
    answers = {i: d for i, a, d in events if a in ("answer", "refusal")}
    ok = [r for r in results if r["status"] == 200]
    per_question = [questions.get(r["conversation_id"], 0) for r in ok]
    answered = sum(
        1
        for r in ok
        if r["audit_id"] in answers
        and answers[r["audit_id"]].get("conversation_id") == r["conversation_id"]
    )
    return {
        "questions_sent": len(results),
        "answered": len(ok),
        "question_events_exactly_one": sum(1 for c in per_question if c == 1),
        "question_events_missing": sum(1 for c in per_question if c == 0),
        "question_events_duplicated": sum(1 for c in per_question if c > 1),
        "answers_with_audit_record": answered,
        "chain_ok": bool(chain.get("ok")),
        "chain_events": chain.get("count"),
    }


def main() -> None:
    """Start the stack, run the students, check the audit trail, print and write the figures."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument(
        "--guard", default=None, help="GUARD_BACKEND (default: whatever build_guard gives)"
    )
    parser.add_argument(
        "--llama-threads",
        type=int,
        default=1,
        help="llama_cpp.server threads (1 is faster on a shared machine)",
    )
    args = parser.parse_args()
    from tests.production.servers import ProductionStack

    rng = random.Random(3)
    extra = {
        "KATEDER_RATELIMIT_ASK_ADDRESS": "100000 per minute"
    }  # every simulated student comes from 127.0.0.1
    with ProductionStack(
        Path(tempfile.mkdtemp(prefix="kateder-load-")),
        workers=args.workers,
        guard=args.guard,
        max_tokens=args.max_tokens,
        llama_threads=args.llama_threads,
        extra_env=extra,
    ) as stack:
        print(f"stack up: {stack.timings}; gunicorn workers {stack.worker_pids()}")
        tokens = enrol_students(stack.database_url, args.students, stack.env["KATEDER_HOME"])
        results: list[dict] = []
        lock = threading.Lock()

        def student(token: str) -> None:
            for q in rng.sample(QUESTIONS, args.questions):
                status, seconds, body = ask(stack.url, token, q)
                with lock:
                    results.append(
                        {
                            "status": status,
                            "seconds": seconds,
                            "conversation_id": body.get("conversation_id"),
                            "audit_id": body.get("audit_id"),
                            "mode": body.get("mode"),
                            "timings_ms": body.get("timings_ms", {}),
                            "error": body.get("error"),
                        }
                    )

        threads = [threading.Thread(target=student, args=(t,)) for t in tokens.values()]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        audit = check_audit(stack.database_url, results)
        load = os.getloadavg()
        stack_timings = dict(stack.timings)

    lat = [r["seconds"] for r in results if r["status"] == 200]
    errors = Counter(r["status"] for r in results if r["status"] != 200)
    stages: dict[str, list[float]] = {}
    for r in results:
        for k, v in (r["timings_ms"] or {}).items():
            stages.setdefault(k, []).append(v)
    summary = {
        "bench": "load_test",
        "students": args.students,
        "questions_each": args.questions,
        "gunicorn_workers": args.workers,
        "generator_max_tokens": args.max_tokens,
        "llama_threads": args.llama_threads,
        "requests": len(results),
        "errors": sum(errors.values()),
        "error_statuses": {str(k): v for k, v in errors.items()},
        "wall_s": round(wall, 1),
        "throughput_qpm": round(len(lat) / wall * 60, 1) if wall else 0.0,
        "p50_s": round(statistics.median(lat), 2) if lat else None,
        "p95_s": round(pct(lat, 0.95), 2) if lat else None,
        "max_s": round(max(lat), 2) if lat else None,
        "modes": dict(Counter(r["mode"] for r in results)),
        "stage_mean_ms": {k: round(statistics.fmean(v), 1) for k, v in sorted(stages.items())},
        "stage_p95_ms": {k: round(pct(v, 0.95), 1) for k, v in sorted(stages.items())},
        "audit": audit,
        "stack_start_s": stack_timings,
        "load_average": load,
        "cpus": os.cpu_count(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "first_errors": [r["error"] for r in results if r["status"] != 200][:5],
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "first_errors"}, indent=1))
    ok = (
        summary["errors"] == 0
        and audit["question_events_exactly_one"] == len(results)
        and audit["chain_ok"]
    )
    print(
        "RESULT:",
        "zero errors, one question event per question, chain intact"
        if ok
        else "PROBLEMS (see above)",
    )
    out = ROOT / "bench" / "results" / "load_test.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

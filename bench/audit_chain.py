"""Audit chain cost: events per second (one writer and concurrent writers) and verify time.

Writes to a fresh SQLite file and, when the server answers, a fresh PostgreSQL database.
Prints events/s for 1 writer and for N concurrent writers (each with its own connection),
the time to verify the chain, and the cost of sealing one message text (AES-GCM with a
per-student key) relative to storing it plain; writes bench/results/audit_chain.json.

    python bench/audit_chain.py [--events 2000] [--writers 8]
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.db import Database  # noqa: E402
from app.services.audit import AuditLog, Pseudonymizer, verify_chain  # noqa: E402
from app.services.gdpr import KeyRing  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DETAILS = {"action": "allow", "input_verdict": {"safe": True, "categories": [], "score": 0.01, "backend": "embedded",
                                                "model": "guard-e5-top3"},
           "passages": [{"id": f"3:1:{i}", "document_id": 3, "version": 1} for i in range(4)],
           "timings_ms": {"input_guard": 12.5, "retrieval": 8.1, "generation": 900.0}}


def _writers(url: str, writers: int, per_writer: int) -> float:
    log = AuditLog(Pseudonymizer(b"k" * 32))
    barrier = threading.Barrier(writers + 1)

    def work() -> None:
        db = Database(url)
        barrier.wait()
        for _ in range(per_writer):
            with db.session() as s:
                log.record(s, "question", details=DETAILS)
        db.dispose()

    threads = [threading.Thread(target=work) for _ in range(writers)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return writers * per_writer / (time.perf_counter() - start)


def run(url: str, events: int, writers: int) -> dict:
    db = Database(url)
    db.migrate()
    single = _writers(url, 1, events // 2)
    many = _writers(url, writers, max(1, events // 2 // writers))
    start = time.perf_counter()
    with db.session() as s:
        report = verify_chain(s)
    verify_s = time.perf_counter() - start
    ring = KeyRing(b"m" * 32)
    text = "Hur fungerar fotosyntesen i ett blad, och varför behöver växten ljus? " * 3
    with db.session() as s:
        ring.seal(s, 1, text)
        start = time.perf_counter()
        for _ in range(500):
            ring.seal(s, 1, text)
        seal_us = (time.perf_counter() - start) / 500 * 1e6
    db.dispose()
    assert report["ok"], report
    return {"events_per_s_1_writer": round(single, 1), f"events_per_s_{writers}_writers": round(many, 1),
            "verify_s": round(verify_s, 3), "events": report["count"], "verify_events_per_s": round(report["count"] / verify_s),
            "seal_us_per_message": round(seal_us, 1)}


def main() -> None:
    """Run the benchmark on SQLite and, if it answers, PostgreSQL."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--writers", type=int, default=8)
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run(f"sqlite:///{tmp}/bench.db", args.events, args.writers)
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        pass
    else:
        from sqlalchemy import create_engine, text

        name = f"kateder_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            results["postgresql"] = run(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", args.events, args.writers)
        finally:
            with admin.connect() as c:
                c.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            admin.dispose()
    for backend, r in results.items():
        print(f"{backend:11} " + "  ".join(f"{k}={v}" for k, v in r.items()))
    out = ROOT / "bench" / "results" / "audit_chain.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

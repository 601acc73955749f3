"""Audit chain cost: events per second (one writer, concurrent writers, one school vs two
schools) and verify time.

Writes to a fresh SQLite file and, when the server answers, a fresh PostgreSQL database.
Prints events/s for 1 writer and for N concurrent writers (each with its own connection),
the time to verify the chains, and the cost of sealing one message text (AES-GCM with a
per-student key) relative to storing it plain; writes bench/results/audit_chain.json.

Chains per school: with the same number of writer connections, all appending to one
school's chain (they queue on its head row) and split between two schools (each half on its
own chain). ``two_schools_vs_one`` is the ratio of the two rates, the median of ``--rounds``
alternating rounds; on PostgreSQL it should be near 2 when the head-row lock is what limits
one chain (target >= 1.8), on SQLite near 1 (one write lock for the whole file).

    python bench/audit_chain.py [--events 2000] [--writers 8] [--chain-events 800] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from app.db import Database  # noqa: E402
from app.services.audit import AuditLog, Pseudonymizer, verify_chain  # noqa: E402
from app.services.gdpr import KeyRing  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DETAILS = {
    "action": "allow",
    "input_verdict": {
        "safe": True,
        "categories": [],
        "score": 0.01,
        "backend": "embedded",
        "model": "guard-e5-top3",
    },
    "passages": [{"id": f"3:1:{i}", "document_id": 3, "version": 1} for i in range(4)],
    "timings_ms": {"input_guard": 12.5, "retrieval": 8.1, "generation": 900.0},
}


def _writers(
    url: str, writers: int, per_writer: int, schools: tuple[int | None, ...] = (None,)
) -> float:
    """Events/s of ``writers`` connections, spread round-robin over ``schools`` (None: the
    installation chain)."""
    log = AuditLog(Pseudonymizer(b"k" * 32))
    barrier = threading.Barrier(writers + 1)

    def work(school_id: int | None) -> None:
        db = Database(url)
        with db.session() as s:  # connect before the clock starts
            s.execute(select(1))
        barrier.wait()
        for _ in range(per_writer):
            with db.session() as s:
                log.record(s, "question", school_id=school_id, details=DETAILS)
        db.dispose()

    threads = [
        threading.Thread(target=work, args=(schools[n % len(schools)],)) for n in range(writers)
    ]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return writers * per_writer / (time.perf_counter() - start)


def _schools(url: str, writers: int, events: int, rounds: int) -> dict:
    """One school's rate vs two schools' together, same writer connections, alternating rounds."""
    per_writer = max(1, events // writers)
    one, two = [], []
    for _ in range(rounds):
        one.append(_writers(url, writers, per_writer, (1,)))
        two.append(_writers(url, writers, per_writer, (2, 3)))
    ratios = sorted(b / a for a, b in zip(one, two, strict=True))
    return {
        "chain_writers": writers,
        "chain_events_per_round": writers * per_writer,
        "one_school_events_per_s": [round(x, 1) for x in one],
        "two_schools_events_per_s": [round(x, 1) for x in two],
        "two_schools_vs_one": round(ratios[len(ratios) // 2], 2),
    }


def run(url: str, events: int, writers: int, chain_events: int, rounds: int) -> dict:
    db = Database(url)
    db.migrate()
    single = _writers(url, 1, events // 2)
    many = _writers(url, writers, max(1, events // 2 // writers))
    schools = _schools(url, writers, chain_events, rounds)
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
    return {
        "events_per_s_1_writer": round(single, 1),
        f"events_per_s_{writers}_writers": round(many, 1),
        "verify_s": round(verify_s, 3),
        "events": report["count"],
        "verify_events_per_s": round(report["count"] / verify_s),
        "seal_us_per_message": round(seal_us, 1),
        **schools,
    }


def main() -> None:
    """Run the benchmark on SQLite and, if it answers, PostgreSQL."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument(
        "--chain-events",
        type=int,
        default=800,
        help="events per round of the one vs two schools comparison",
    )
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run(
            f"sqlite:///{tmp}/bench.db", args.events, args.writers, args.chain_events, args.rounds
        )
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
            results["postgresql"] = run(
                PG_ADMIN.rsplit("/", 1)[0] + f"/{name}",
                args.events,
                args.writers,
                args.chain_events,
                args.rounds,
            )
        finally:
            with admin.connect() as c:
                c.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                        f"'{name}'"
                    )
                )
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            admin.dispose()
    results["load_average_1m"] = round(
        os.getloadavg()[0], 2
    )  # the machine is shared: read the figures with it
    for backend, r in results.items():
        if isinstance(r, dict):
            print(f"{backend:11} " + "  ".join(f"{k}={v}" for k, v in r.items()))
    print(f"load average (1 min) at the end: {results['load_average_1m']}")
    out = ROOT / "bench" / "results" / "audit_chain.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Rate limits hold across gunicorn workers when the counters live in Redis.

Real gunicorn (``gunicorn.conf.py``, gthread workers) on loopback, SQLite, the rules guard.
The sign-in limit (``RATELIMIT_LOGIN``, per address) is the one measured: every request
is a failed token request for a new random name, so the per-account sign-in throttle never
answers and every 429 comes from the rate limiter. The access log carries each worker's pid,
which shows that both workers answered.
"""

from __future__ import annotations

import json
import re
import secrets
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.production.servers import gunicorn

pytestmark = pytest.mark.production
LIMIT = 5
REQUESTS = 24


def _env(tmp_path: Path, storage_uri: str, prefix: str) -> dict[str, str]:
    return {
        "KATEDER_HOME": str(tmp_path / "home"),
        "KATEDER_SECRET_KEY": "limits-test",
        "KATEDER_PSEUDONYM_KEY": secrets.token_hex(32),
        "KATEDER_MASTER_KEY": secrets.token_hex(32),
        "KATEDER_GUARD_BACKEND": "rules",
        "KATEDER_RATELIMIT_STORAGE_URI": storage_uri,
        "KATEDER_RATELIMIT_KEY_PREFIX": prefix,
        "KATEDER_RATELIMIT_LOGIN": f"{LIMIT} per hour",
        # the worker's pid on every access-log line
        "GUNICORN_CMD_ARGS": "--access-logformat 'pid=%(p)s status=%(s)s'",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }


def _token_request(url: str) -> int:
    body = json.dumps({"username": "nobody-" + secrets.token_hex(6), "password": "wrong"}).encode()
    req = urllib.request.Request(
        url + "/api/v1/tokens", body, {"Content-Type": "application/json", "Connection": "close"}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - loopback
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def _burst(tmp_path: Path, storage_uri: str, prefix: str, workers: int) -> tuple[Counter, Counter]:
    log = tmp_path / "gunicorn.log"
    server = gunicorn(
        _env(tmp_path, storage_uri, prefix), workers=workers, threads=4, log=log
    ).start(timeout=300)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = Counter(pool.map(lambda _: _token_request(server.url), range(REQUESTS)))
    finally:
        server.stop(timeout=30)
    pids = Counter(re.findall(r"pid=<(\d+)> status=(?:401|429)", log.read_text()))
    return statuses, pids


def test_two_workers_on_redis_enforce_one_sign_in_limit_together(tmp_path, redis_url):
    url, prefix = redis_url
    statuses, pids = _burst(tmp_path, url, prefix, workers=2)
    assert len(pids) == 2, f"only one worker answered ({pids}); the test shows nothing"
    assert statuses == Counter({401: LIMIT, 429: REQUESTS - LIMIT}), statuses


def test_one_worker_without_redis_keeps_its_limit_in_memory(tmp_path):
    statuses, pids = _burst(tmp_path, "memory://", "kateder", workers=1)
    assert len(pids) == 1
    assert statuses == Counter({401: LIMIT, 429: REQUESTS - LIMIT}), statuses

"""``kateder serve`` serves as production does (gunicorn), and ``--dev`` is Flask's server.

Each test starts the real command on a loopback port, with SQLite and the rules guard so
nothing heavy loads, and stops it by its own process group.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import urllib.request
from pathlib import Path

import pytest

from tests.production.servers import BIN, Server, free_port

pytestmark = pytest.mark.production


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "KATEDER_HOME": str(tmp_path / "home"),
        "KATEDER_SECRET_KEY": "serve-test",
        "KATEDER_PSEUDONYM_KEY": secrets.token_hex(32),
        "KATEDER_MASTER_KEY": secrets.token_hex(32),
        "KATEDER_GUARD_BACKEND": "rules",
        "KATEDER_EMBEDDER": "minilm",
        "KATEDER_JOBS_IN_PROCESS": "false",
        "KATEDER_ACCESS_LOG": "-",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",
    }


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _server_header(url: str) -> str:
    with urllib.request.urlopen(url + "/api/openapi.json", timeout=30) as r:  # noqa: S310 - loopback
        return r.headers.get("Server", "")


def test_serve_runs_gunicorn_with_the_workers_asked_for_and_prints_url_and_demo_logins(tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    argv = [
        str(BIN / "kateder"),
        "serve",
        "--demo",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "2",
        "--threads",
        "3",
    ]
    server = Server(
        "kateder serve", argv, port, "/api/openapi.json", env=_env(tmp_path), log=log
    ).start(timeout=600)
    try:
        text = log.read_text()
        assert f"Kateder on http://127.0.0.1:{port}/" in text
        logins = dict(re.findall(r"^\s+student\s+(\S+)\s+(\S+)$", text, flags=re.M))
        assert logins, text[-2000:]
        assert "gunicorn" in _server_header(server.url).lower()
        # exec, not a child: the process started is gunicorn's master, and it forked two workers
        deadline = time.monotonic() + 60  # the first worker may answer before the second is forked
        while len(_children(server.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(_children(server.proc.pid)) == 2
        assert "Using worker: gthread" in log.read_text()
        # a printed demo login signs in over HTTP
        username, password = next(iter(logins.items()))
        req = urllib.request.Request(
            server.url + "/api/v1/tokens",
            json.dumps({"username": username, "password": password}).encode(),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - loopback
            assert json.loads(r.read())["token"]
    finally:
        server.stop(timeout=30)


def test_serve_dev_runs_flasks_development_server(tmp_path):
    port = free_port()
    log = tmp_path / "dev.log"
    argv = [str(BIN / "kateder"), "serve", "--dev", "--host", "127.0.0.1", "--port", str(port)]
    server = Server(
        "kateder serve --dev", argv, port, "/api/openapi.json", env=_env(tmp_path), log=log
    ).start(timeout=300)
    try:
        assert _server_header(server.url).startswith("Werkzeug/")
        assert _children(server.proc.pid) == []
        assert f"Kateder on http://127.0.0.1:{port}/" in log.read_text()
    finally:
        server.stop(timeout=30)

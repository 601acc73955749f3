"""Real servers on loopback for the production suite, the fault tests and the load test.

Each helper starts one process (``chroma run``, ``python -m llama_cpp.server``, gunicorn,
a TCP proxy in front of PostgreSQL), waits until it answers, and stops it by its own pid.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get(
    "KATEDER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True if ``url`` answers with a 2xx status."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 - loopback only
            return 200 <= r.status < 300
    except OSError:
        return False


class Server:
    """One child process serving HTTP on 127.0.0.1:``port``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        port: int,
        health: str,
        *,
        env: dict[str, str] | None = None,
        log: Path | None = None,
        cwd: Path = ROOT,
    ) -> None:
        """Remember how to start it; ``health`` is a path that answers 2xx when ready."""
        self.name, self.argv, self.port, self.health = name, list(argv), port, health
        self.env = {**os.environ, **(env or {})}
        self.log = log
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> Server:
        """Start the process and wait until its health URL answers."""
        return self.launch().wait(timeout)

    def launch(self) -> Server:
        """Start the process without waiting for it."""
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115 - kept for the child
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait(self, timeout: float = 90.0) -> Server:
        """Wait until the health URL answers (stop the process if it never does)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}; see {self.log}"
                )
            if http_ok(self.url + self.health):
                return self
            time.sleep(0.25)
        self.stop()
        raise TimeoutError(
            f"{self.name} did not answer on {self.url}{self.health} within {timeout:.0f} s; "
            f"see {self.log}"
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> None:
        """Stop the process group this helper started (SIGKILL if it does not stop in time)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def kill(self) -> None:
        """Kill it hard, as a crash would."""
        self.stop(signal.SIGKILL)


def chroma(path: Path, port: int | None = None, log: Path | None = None) -> Server:
    """``chroma run`` (the chromadb package's server) with its data in ``path``."""
    port = port or free_port()
    argv = [
        str(BIN / "chroma"),
        "run",
        "--path",
        str(path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return Server(
        "chroma", argv, port, "/api/v2/heartbeat", env={"ANONYMIZED_TELEMETRY": "False"}, log=log
    )


def llama_server(
    model: Path, port: int | None = None, log: Path | None = None, threads: int = 2
) -> Server:
    """``python -m llama_cpp.server``: an OpenAI-compatible server for a GGUF model."""
    port = port or free_port()
    argv = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        str(threads),
        "--model_alias",
        model.stem,
        # by default a new request cancels the answer being streamed (docs/operations.md)
        "--interrupt_requests",
        "False",
    ]
    return Server("llama_cpp.server", argv, port, "/v1/models", log=log)


def gunicorn(
    env: dict[str, str],
    port: int | None = None,
    workers: int = 2,
    threads: int = 4,
    log: Path | None = None,
) -> Server:
    """gunicorn with ``gunicorn.conf.py`` serving ``app.wsgi:app``."""
    port = port or free_port()
    env = {
        **env,
        "KATEDER_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
        "KATEDER_THREADS": str(threads),
        "KATEDER_ACCESS_LOG": "-",
    }
    argv = [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "app.wsgi:app"]
    return Server("gunicorn", argv, port, "/api/openapi.json", env=env, log=log)


@contextlib.contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database on 127.0.0.1:5432; dropped afterwards."""
    from sqlalchemy import create_engine, text

    name = f"kateder_p_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as c:
            c.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{name}'"
                )
            )
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


class TcpProxy:
    """A loopback TCP proxy that can be cut (every connection dropped, new ones refused) and
    restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        """Forward 127.0.0.1:``port`` to ``target``."""
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.stalled = False
        self._held: list[socket.socket] = []

    def start(self) -> TcpProxy:
        """Listen and forward."""
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self._listener = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()
        return self

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                client, _ = sock.accept()
            except OSError:
                return
            if self.stalled:  # a hung server: the connection opens, nothing ever comes back
                with self._lock:
                    self._held.append(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """The database is gone: refuse new connections and break the open ones."""
        if self._listener is not None:
            with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        """The server is reachable again."""
        if self._listener is None:
            self.start()

    def stall(self, on: bool = True) -> None:
        """Hang new connections (a server too slow to answer); ``on=False`` ends it."""
        self.stalled = on
        if not on:
            with self._lock:
                held, self._held = self._held, []
            for s in held:
                with contextlib.suppress(OSError):
                    s.close()

    def url_for(self, database_url: str) -> str:
        """``database_url`` rewritten to go through this proxy."""
        return database_url.replace("@127.0.0.1:5432/", f"@127.0.0.1:{self.port}/")


class ProductionStack:
    """The production shape on loopback: PostgreSQL, chroma, llama_cpp.server, gunicorn, ingestion
    worker.

    Used by ``tests/production`` and ``bench/load_test.py``. ``guard`` picks
    ``GUARD_BACKEND`` (None: whatever ``build_guard`` gives by default).
    """

    def __init__(
        self,
        tmp: Path,
        *,
        workers: int = 2,
        threads: int = 4,
        guard: str | None = None,
        max_tokens: int = 24,
        llama_threads: int = 2,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        """Remember the shape; nothing starts before ``__enter__``."""
        self.tmp = Path(tmp)
        self.workers, self.threads, self.guard, self.max_tokens = (
            workers,
            threads,
            guard,
            max_tokens,
        )
        self.llama_threads = llama_threads
        self.extra_env = extra_env or {}
        self._stack = contextlib.ExitStack()
        self.timings: dict[str, float] = {}

    def _timed(self, name: str, start: float) -> None:
        self.timings[name] = round(time.monotonic() - start, 2)

    def __enter__(self) -> ProductionStack:
        """Start everything; on any failure stop what already started."""
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        """Stop everything this stack started."""
        self._stack.close()

    def _start(self) -> None:
        import json

        from core.model_files import smollm2_gguf

        logs = self.tmp / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        t = time.monotonic()
        self.database_url = self._stack.enter_context(fresh_pg_database())
        self.chroma = chroma(self.tmp / "chroma", log=logs / "chroma.log").start()
        self._stack.callback(self.chroma.stop)
        self._timed("chroma", t)
        t = time.monotonic()
        model = Path(smollm2_gguf())
        self.llama = llama_server(model, log=logs / "llama.log", threads=self.llama_threads).start()
        self._stack.callback(self.llama.stop)
        self._timed("llama_cpp.server", t)
        self.env = {
            "KATEDER_HOME": str(self.tmp / "home"),
            "KATEDER_DATABASE_URL": self.database_url,
            # keys from the environment, as in production (docs/operations.md): no process creates
            # key files
            "KATEDER_SECRET_KEY": "production-test",
            "KATEDER_PSEUDONYM_KEY": secrets.token_hex(32),
            "KATEDER_MASTER_KEY": secrets.token_hex(32),
            "KATEDER_VECTOR_BACKEND": "chroma-http",
            "KATEDER_CHROMA_HOST": "127.0.0.1",
            "KATEDER_CHROMA_PORT": str(self.chroma.port),
            "KATEDER_GENERATOR": "openai",
            "KATEDER_GENERATOR_URL": self.llama.url + "/v1",
            "KATEDER_GENERATOR_MODEL": model.stem,
            "KATEDER_GENERATOR_MAX_TOKENS": str(self.max_tokens),
            "KATEDER_GENERATOR_TIMEOUT": "300",
            "KATEDER_EMBEDDER": "minilm",
            "KATEDER_JOBS_IN_PROCESS": "false",
            "KATEDER_WARM_WORKERS": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": "1",
            **self.extra_env,
        }
        if self.guard:
            self.env["KATEDER_GUARD_BACKEND"] = self.guard
        t = time.monotonic()
        env = {**os.environ, **self.env}
        out = subprocess.run(
            [str(BIN / "kateder"), "migrate"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if out.returncode:
            raise RuntimeError(f"kateder migrate failed: {out.stderr.strip()[-2000:]}")
        # gunicorn's workers load their models while the demo material is ingested
        self.web = gunicorn(
            self.env, workers=self.workers, threads=self.threads, log=logs / "gunicorn.log"
        ).launch()
        self._stack.callback(self.web.stop)
        out = subprocess.run(
            [str(BIN / "kateder"), "demo", "--json"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if out.returncode:
            raise RuntimeError(f"kateder demo failed: {out.stderr.strip()[-2000:]}")
        self.demo = json.loads(out.stdout.strip().splitlines()[-1])
        self.passwords = {u["username"]: u["password"] for u in self.demo["users"]}
        self._timed("migrate_and_demo_ingest", t)
        self.web.wait(timeout=300)
        self._timed("gunicorn_ready", t)
        self.worker = subprocess.Popen(
            [str(BIN / "kateder"), "worker", "--poll", "0.5"],
            env={**os.environ, **self.env},
            cwd=ROOT,
            stdout=open(logs / "worker.log", "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._stack.callback(self._stop_worker)
        self.url = self.web.url

    def _stop_worker(self) -> None:
        if self.worker.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.worker.pid, signal.SIGTERM)
            try:
                self.worker.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.worker.pid, signal.SIGKILL)
                self.worker.wait(10)

    def worker_pids(self) -> list[int]:
        """The pids of gunicorn's worker processes."""
        pid = self.web.proc.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        return [int(p) for p in children.read_text().split()] if children.exists() else []

    def token(self, username: str) -> str:
        """A bearer token for a demo user, over HTTP."""
        import json

        body = json.dumps({"username": username, "password": self.passwords[username]}).encode()
        req = urllib.request.Request(
            self.url + "/api/v1/tokens", body, {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - loopback only
            return json.loads(r.read())["token"]


class RecordingChatServer:
    """A minimal OpenAI-compatible chat server on 127.0.0.1 that records every request body.

    It answers ``POST /v1/chat/completions`` (streamed or not) with the first sentence of
    source ``[1]`` in the last message, cited, so the ask pipeline's grounding accepts it;
    ``GET /v1/models`` lists one model. ``requests`` holds the decoded JSON bodies.
    """

    def __init__(self, model: str = "recorder") -> None:
        """Bind to a free loopback port; nothing is served before ``start``."""
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.model = model
        self.requests: list[dict] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                return

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                import json

                self._send(
                    200,
                    json.dumps(
                        {"object": "list", "data": [{"id": recorder.model, "object": "model"}]}
                    ).encode(),
                    "application/json",
                )

            def do_POST(self) -> None:
                import json
                import re

                body = json.loads(
                    self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}"
                )
                recorder.requests.append(body)
                last = (body.get("messages") or [{}])[-1].get("content") or ""
                m = re.search(r"\[1\] (.+?[.!?])(\s|$)", last)
                answer = (m.group(1) + " [1]") if m else "I do not know."
                base = {"id": "rec-1", "created": 0, "model": recorder.model}
                if not body.get("stream"):
                    reply = {
                        **base,
                        "object": "chat.completion",
                        "choices": [
                            {
                                "index": 0,
                                "finish_reason": "stop",
                                "message": {"role": "assistant", "content": answer},
                            }
                        ],
                    }
                    self._send(200, json.dumps(reply).encode(), "application/json")
                    return
                chunks = [answer[i : i + 8] for i in range(0, len(answer), 8)]
                events = [
                    {
                        **base,
                        "object": "chat.completion.chunk",
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"role": "assistant", "content": c},
                                "finish_reason": None,
                            }
                        ],
                    }
                    for c in chunks
                ]
                events.append(
                    {
                        **base,
                        "object": "chat.completion.chunk",
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    }
                )
                payload = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
                self._send(200, payload.encode(), "text/event-stream")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the OpenAI-compatible API (``.../v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> RecordingChatServer:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

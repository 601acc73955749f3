"""Open WebUI 0.12.4 as the other side of Kateder's answer benchmark, fully offline.

Two servers, each a subprocess in its own process group, on 127.0.0.1 only:

* ``start_llama_server`` runs ``python -m llama_cpp.server`` (from Kateder's venv) on a GGUF;
* ``OpenWebUI`` runs ``open-webui serve`` from its own venv (default ``/work/owui/venv``),
  with a fresh data folder, its single OpenAI connection pointed at that llama server, no
  Ollama, no downloads, no version check, and the admin account created from the environment.

``OpenWebUI.chat`` sends OpenAI-style messages through Open WebUI's own chat endpoint
(``POST /api/chat/completions``: its documented API, the route its browser UI posts to as
well), streamed, and times the whole answer and the first complete sentence. Sent as an API
caller (no ``chat_id``/``session_id``), the answer streams back in the HTTP response and no
chat is saved; the browser instead gets its tokens over socket.io and saves the chat, which
only adds work on Open WebUI's side. ``direct_chat`` sends the same request straight to the
llama server, the baseline that shows what Open WebUI itself adds. ``OpenWebUI.add_knowledge`` and
``OpenWebUI.rag_chat`` exercise Open WebUI's own retrieval: a text file uploaded into a
knowledge base (embedded with a local all-MiniLM-L6-v2 folder) and a bare question with that
knowledge attached.

Kateder's pipeline messages are (role, text) pairs: ``openai_messages`` converts them, and
``sampling_extra`` turns LangChain's ``ChatLlamaCpp._get_parameters(None)`` into the extra
fields (``top_p``, ``top_k``, ``repeat_penalty``...) that make the server sample as Kateder does.

Demo (starts both servers, asks three questions, stops everything)::

    .venv/bin/python bench/openwebui.py [--rag] [--max-tokens 96] [--threads 2]

Open WebUI is never installed into Kateder's venv; its own venv is made with::

    python3.11 -m venv /work/owui/venv
    /work/owui/venv/bin/pip install torch==2.13.0 open-webui==0.12.4
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
KATEDER_PYTHON = ROOT / ".venv" / "bin" / "python"
OWUI_VENV = Path("/work/owui/venv")
HOST = "127.0.0.1"
SENTENCE_ENDS = ".!?\n"
ADMIN_EMAIL = "bench@kateder.invalid"

# Environment that keeps both servers off the network (the Hugging Face hub, telemetry).
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",  # chromadb
    "DO_NOT_TRACK": "True",
    "SCARF_NO_ANALYTICS": "True",
    "TOKENIZERS_PARALLELISM": "false",
}


# --------------------------------------------------------------------------- processes

# Variables passed on from the caller's environment; everything else is left out, so that a
# DATABASE_URL, REDIS_URL, PORT or HOST meant for Kateder cannot reach either server.
PASSED_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OMP_NUM_THREADS",
)


def base_env(**extra: str) -> dict[str, str]:
    """A minimal child environment: ``PASSED_ENV`` from ours, the offline switches, then
    ``extra``."""
    return {**{k: os.environ[k] for k in PASSED_ENV if k in os.environ}, **OFFLINE_ENV, **extra}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _log_tail(path: Path, lines: int = 40) -> str:
    """The last lines of a server's log, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _spawn(cmd: list[str], env: Mapping[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in a new process group, stdout and stderr into ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes], grace_s: float = 20.0) -> None:
    """SIGTERM the process group that ``proc`` leads, then SIGKILL it after ``grace_s``."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _wait_until(
    check: Callable[[], bool],
    proc: subprocess.Popen[bytes],
    log: Path,
    what: str,
    timeout_s: float,
    every_s: float = 0.5,
) -> float:
    """Poll ``check`` until it is true; returns the seconds waited.

    Raises RuntimeError (with the log's tail) if the process exits or ``timeout_s`` passes.
    """
    start = time.perf_counter()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}:\n{_log_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if check():
                return time.perf_counter() - start
        if time.perf_counter() - start > timeout_s:
            raise RuntimeError(f"{what} not ready after {timeout_s:.0f} s:\n{_log_tail(log)}")
        time.sleep(every_s)


def tree_rss_mb(pid: int) -> float:
    """Resident memory (MiB) of a process and all its descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry.name))
    total_kb, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
    return total_kb / 1024


# --------------------------------------------------------------------------- llama server


@dataclass
class LlamaServer:
    """A running ``llama_cpp.server``; ``base_url`` ends in ``/v1``."""

    proc: subprocess.Popen[bytes]
    base_url: str
    model_id: str
    log: Path
    startup_s: float

    def rss_mb(self) -> float:
        """Resident memory of the server process (MiB)."""
        return tree_rss_mb(self.proc.pid)


@contextlib.contextmanager
def start_llama_server(
    gguf: str,
    port: int,
    n_threads: int = 2,
    n_ctx: int = 2048,
    n_batch: int = 512,
    *,
    n_threads_batch: int | None = None,
    alias: str | None = None,
    python: str | Path = KATEDER_PYTHON,
    timeout_s: float = 180.0,
) -> Iterator[LlamaServer]:
    """Run ``python -m llama_cpp.server`` on ``gguf`` at 127.0.0.1:``port`` until the block ends.

    Waits (at most ``timeout_s``) until ``GET /v1/models`` answers. ``alias`` is the model id
    the server lists (default: the GGUF's file stem). ``n_threads_batch`` is left at
    llama-cpp-python's default (all cores, as for ``Llama(...)``) unless given.
    """
    alias = alias or Path(gguf).stem
    work = Path(tempfile.mkdtemp(prefix="llama-server-"))
    log = work / "server.log"
    cmd = [
        str(python),
        "-m",
        "llama_cpp.server",
        "--model",
        str(gguf),
        "--model_alias",
        alias,
        "--host",
        HOST,
        "--port",
        str(port),
        "--n_threads",
        str(n_threads),
        "--n_ctx",
        str(n_ctx),
        "--n_batch",
        str(n_batch),
    ]
    if n_threads_batch is not None:
        cmd += ["--n_threads_batch", str(n_threads_batch)]
    # llama_cpp.server cancels a running answer when the next request arrives unless told not to
    cmd += ["--interrupt_requests", "False"]
    proc = _spawn(cmd, base_env(), log, work)
    base_url = f"http://{HOST}:{port}/v1"
    try:
        startup_s = _wait_until(
            lambda: httpx.get(f"{base_url}/models", timeout=5).status_code == 200,
            proc,
            log,
            "llama_cpp.server",
            timeout_s,
        )
        yield LlamaServer(proc, base_url, alias, log, startup_s)
    finally:
        _stop(proc)
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------- Open WebUI


def openwebui_env(
    data_dir: Path,
    openai_base_url: str,
    *,
    url: str,
    admin_password: str,
    embedding_model: str = "",
    query_generation: bool = False,
) -> dict[str, str]:
    """The variables that start Open WebUI 0.12.4 offline at ``url`` against one
    OpenAI-compatible server.

    Names are those read by ``open_webui/env.py`` and ``open_webui/config.py``. An empty
    ``embedding_model`` skips loading sentence-transformers (no RAG); a folder path loads
    that local model. ``query_generation`` keeps Open WebUI's default extra LLM call that
    writes search queries before retrieval (off here: fewer calls, so Open WebUI is faster).
    """
    off = "False"
    return {
        **OFFLINE_ENV,
        "DATA_DIR": str(data_dir),  # sqlite database, uploads, chroma vector store, cache
        # sets HF_HUB_OFFLINE, no version check, no model auto-update, no pip
        "OFFLINE_MODE": "True",
        "ENABLE_VERSION_UPDATE_CHECK": off,
        "WEBUI_SECRET_KEY": secrets.token_urlsafe(
            32
        ),  # else `serve` writes .webui_secret_key into cwd
        "WEBUI_AUTH": "True",
        "WEBUI_ADMIN_EMAIL": ADMIN_EMAIL,  # admin created at startup (fresh database)
        "WEBUI_ADMIN_PASSWORD": admin_password,
        "WEBUI_ADMIN_NAME": "Benchmark",
        "ENABLE_OLLAMA_API": off,
        "ENABLE_OPENAI_API": "True",
        "OPENAI_API_BASE_URL": openai_base_url,
        "OPENAI_API_BASE_URLS": openai_base_url,
        "OPENAI_API_KEY": "sk-local",  # llama_cpp.server without --api_key accepts any
        "OPENAI_API_KEYS": "sk-local",
        "RAG_EMBEDDING_ENGINE": "",  # local sentence-transformers
        "RAG_EMBEDDING_MODEL": embedding_model,
        "RAG_EMBEDDING_MODEL_AUTO_UPDATE": off,
        "RAG_RERANKING_MODEL_AUTO_UPDATE": off,
        "WHISPER_MODEL_AUTO_UPDATE": off,
        "ENABLE_WEB_SEARCH": off,
        "ENABLE_IMAGE_GENERATION": off,
        "ENABLE_CODE_INTERPRETER": off,
        # background LLM tasks that would compete with the measured answer for the 2 cores
        "ENABLE_TITLE_GENERATION": off,
        "ENABLE_TAGS_GENERATION": off,
        "ENABLE_FOLLOW_UP_GENERATION": off,
        "ENABLE_AUTOCOMPLETE_GENERATION": off,
        "ENABLE_RETRIEVAL_QUERY_GENERATION": str(query_generation),
        "ENABLE_SEARCH_QUERY_GENERATION": off,
        "USER_AGENT": "kateder-bench",
        "CORS_ALLOW_ORIGIN": url,  # its own origin only (the default '*' logs a warning)
    }


@dataclass
class Answer:
    """One streamed answer: total seconds, seconds to the first sentence end, text."""

    total_s: float
    first_sentence_s: float | None
    text: str


@dataclass
class OpenWebUI:
    """Open WebUI 0.12.4 run from its venv for the duration of a ``with`` block.

    ``openai_base_url`` is the llama server's ``http://127.0.0.1:PORT/v1``. ``embedding_model``
    is a local sentence-transformers folder, needed only for ``add_knowledge``/``rag_chat``.
    After ``__enter__``: ``url``, ``token`` (the admin's JWT), ``model_id`` and ``startup_s``.
    """

    openai_base_url: str
    port: int | None = None
    venv: Path = OWUI_VENV
    embedding_model: str = ""
    query_generation: bool = False
    startup_timeout_s: float = 300.0
    extra_env: Mapping[str, str] = field(default_factory=dict)
    url: str = field(init=False, default="")
    token: str = field(init=False, default="")
    model_id: str = field(init=False, default="")
    startup_s: float = field(init=False, default=0.0)
    _proc: subprocess.Popen[bytes] | None = field(init=False, default=None, repr=False)
    _work: Path | None = field(init=False, default=None, repr=False)
    _client: httpx.Client | None = field(init=False, default=None, repr=False)

    # ---- lifecycle

    def __enter__(self) -> OpenWebUI:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        """Launch ``open-webui serve``, wait for it, sign in, find the model."""
        port = self.port or free_port()
        self.url = f"http://{HOST}:{port}"
        self._work = Path(tempfile.mkdtemp(prefix="owui-bench-"))
        (self._work / "data").mkdir()
        password = secrets.token_urlsafe(16)
        settings = openwebui_env(
            self._work / "data",
            self.openai_base_url,
            url=self.url,
            admin_password=password,
            embedding_model=self.embedding_model,
            query_generation=self.query_generation,
        )
        env = base_env(**{**settings, **self.extra_env})
        cmd = [str(self.venv / "bin" / "open-webui"), "serve", "--host", HOST, "--port", str(port)]
        t0 = time.perf_counter()
        self._proc = _spawn(cmd, env, self.log, self._work)
        _wait_until(
            lambda: httpx.get(f"{self.url}/ready", timeout=5).status_code == 200,
            self._proc,
            self.log,
            "Open WebUI",
            self.startup_timeout_s,
        )
        self.startup_s = time.perf_counter() - t0
        self.token = self._sign_in(password)
        self._client = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=httpx.Timeout(300.0, connect=10.0),
        )
        self.model_id = self._find_model()

    def close(self) -> None:
        """Stop the server and delete its data folder (safe to call twice)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._proc is not None:
            _stop(self._proc)
            self._proc = None
        if self._work is not None:
            shutil.rmtree(self._work, ignore_errors=True)
            self._work = None

    @property
    def log(self) -> Path:
        """Open WebUI's stdout and stderr (inside the temporary folder)."""
        assert self._work is not None, "Open WebUI is not running"
        return self._work / "openwebui.log"

    @property
    def pid(self) -> int:
        """Process id of the ``open-webui serve`` process."""
        assert self._proc is not None, "Open WebUI is not running"
        return self._proc.pid

    def rss_mb(self) -> float:
        """Resident memory of Open WebUI and its children (MiB)."""
        return tree_rss_mb(self.pid)

    def _sign_in(self, password: str) -> str:
        """Sign in as the admin created from the environment; returns the JWT."""
        r = httpx.post(
            f"{self.url}/api/v1/auths/signin",
            json={"email": ADMIN_EMAIL, "password": password},
            timeout=30,
        )
        r.raise_for_status()
        return str(r.json()["token"])

    def _find_model(self, timeout_s: float = 60.0) -> str:
        """The id of the first model Open WebUI lists (from the llama server), refreshing until
        one shows."""
        assert self._client is not None and self._proc is not None
        found: list[str] = []

        def listed() -> bool:
            data = self._api("GET", "/api/models", params={"refresh": "true"})["data"]
            found[:] = [m["id"] for m in data]
            return bool(found)

        _wait_until(listed, self._proc, self.log, "Open WebUI's model list", timeout_s, every_s=2.0)
        return found[0]

    def _api(self, method: str, path: str, **kwargs: Any) -> Any:
        """One authenticated JSON request; raises with the server's answer on an error."""
        assert self._client is not None, "Open WebUI is not running"
        r = self._client.request(method, path, **kwargs)
        if r.is_error:
            raise RuntimeError(f"{method} {path} -> {r.status_code}: {r.text[:500]}")
        return r.json()

    # ---- chat

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        max_tokens: int,
        temperature: float,
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[float, float | None, str]:
        """Stream an answer to ``messages`` through Open WebUI's ``/api/chat/completions``.

        Returns (total seconds, seconds until the text first holds one of ".!?\\n", text).
        ``extra`` adds top-level OpenAI fields (e.g. ``top_p``, ``top_k``, ``repeat_penalty``,
        ``seed``), which Open WebUI passes on to the llama server unchanged.
        """
        body = {
            "model": self.model_id,
            "messages": messages,
            "stream": True,
            "max_tokens": max_tokens,
            "temperature": temperature,
            **(extra or {}),
        }
        answer = self._stream(body)
        return answer.total_s, answer.first_sentence_s, answer.text

    def _stream(self, body: dict[str, Any]) -> Answer:
        """POST a streamed chat completion to Open WebUI and time it."""
        assert self._client is not None, "Open WebUI is not running"
        return stream_chat(self._client, "/api/chat/completions", body)

    # ---- Open WebUI's own RAG

    def add_knowledge(self, name: str, text: str, filename: str = "course.txt") -> str:
        """Upload ``text`` as a file, process it now, and put it in a new knowledge base; returns
        its id.

        Needs ``embedding_model`` (the file's chunks are embedded into Open WebUI's chroma store).
        """
        files = {"file": (filename, text.encode("utf-8"), "text/plain")}
        uploaded = self._api(
            "POST",
            "/api/v1/files/",
            files=files,
            params={"process": "true", "process_in_background": "false"},
        )
        knowledge = self._api(
            "POST", "/api/v1/knowledge/create", json={"name": name, "description": name}
        )
        self._api(
            "POST",
            f"/api/v1/knowledge/{knowledge['id']}/file/add",
            json={"file_id": uploaded["id"]},
        )
        return str(knowledge["id"])

    def rag_chat(
        self,
        question: str,
        knowledge_id: str,
        *,
        max_tokens: int,
        temperature: float,
        system: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[float, float | None, str]:
        """Ask a bare question with a knowledge base attached; Open WebUI retrieves and prompts
        itself.

        Same return value as ``chat``.
        """
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": question}
        ]
        body = {
            "model": self.model_id,
            "messages": messages,
            "stream": True,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "files": [{"type": "collection", "id": knowledge_id}],
            **(extra or {}),
        }
        answer = self._stream(body)
        return answer.total_s, answer.first_sentence_s, answer.text


def openai_messages(pairs: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    """Kateder's (role, text) messages as OpenAI dicts (LangChain's "human"/"ai" renamed)."""
    roles = {"human": "user", "ai": "assistant"}
    return [{"role": roles.get(role, role), "content": text} for role, text in pairs]


def sampling_extra(params: Mapping[str, Any]) -> dict[str, Any]:
    """The sampling fields of a llama-cpp parameter dict, minus ``max_tokens``/``temperature``
    (given separately) and unset values; pass as ``extra=`` to ``chat``/``direct_chat``."""
    return {
        k: v
        for k, v in params.items()
        if k not in ("max_tokens", "temperature") and v not in (None, [])
    }


def stream_chat(client: httpx.Client, url: str, body: dict[str, Any]) -> Answer:
    """POST a streamed OpenAI chat completion and time the whole answer and its first sentence."""
    text, first = "", None
    start = time.perf_counter()
    with client.stream("POST", url, json=body) as r:
        if r.is_error:
            r.read()
            raise RuntimeError(f"POST {url} -> {r.status_code}: {r.text[:500]}")
        for piece in _sse_content(r.iter_lines()):
            text += piece
            if first is None and any(c in text for c in SENTENCE_ENDS):
                first = time.perf_counter() - start
    return Answer(time.perf_counter() - start, first, text)


def direct_chat(
    server: LlamaServer,
    messages: list[dict[str, Any]],
    *,
    max_tokens: int,
    temperature: float,
    extra: Mapping[str, Any] | None = None,
) -> tuple[float, float | None, str]:
    """The same request as ``OpenWebUI.chat`` sent straight to the llama server (the baseline)."""
    body = {
        "model": server.model_id,
        "messages": messages,
        "stream": True,
        "max_tokens": max_tokens,
        "temperature": temperature,
        **(extra or {}),
    }
    with httpx.Client(timeout=httpx.Timeout(300.0, connect=10.0)) as client:
        answer = stream_chat(client, f"{server.base_url}/chat/completions", body)
    return answer.total_s, answer.first_sentence_s, answer.text


def _sse_content(lines: Iterator[str]) -> Iterator[str]:
    """The ``choices[0].delta.content`` pieces of an OpenAI server-sent-event stream.

    Other events that Open WebUI may interleave (sources, usage, status) are skipped.
    """
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            event = json.loads(data)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        if event.get("error"):
            raise RuntimeError(f"Open WebUI stream error: {event['error']}")
        choices = event.get("choices") or [{}]
        piece = (choices[0].get("delta") or {}).get("content")
        if piece:
            yield piece


# --------------------------------------------------------------------------- demo

COURSE = """\
Photosynthesis is the process by which green plants make their own food. Using the energy of
sunlight, plants turn carbon dioxide from the air and water from the soil into glucose and oxygen.
It happens mostly in the leaves, inside small parts of the cells called chloroplasts. Chloroplasts
contain chlorophyll, a green pigment that absorbs red and blue light and reflects green light,
which is why leaves look green.

The water cycle moves water around the Earth. Evaporation is when the sun heats water in oceans,
lakes and rivers and it turns into water vapour that rises into the air. As the vapour rises it
cools and condenses into tiny droplets that form clouds. When the droplets join and grow heavy,
they fall as rain or snow: this is precipitation.
"""

DEMO_QUESTIONS = [
    "What do plants make from carbon dioxide and water?",
    "Why do leaves look green?",
    "How are clouds formed?",
]

# what Kateder's ChatLlamaCpp sends besides max_tokens and temperature
DEMO_SAMPLING = {"top_p": 0.95, "top_k": 40, "repeat_penalty": 1.1}

SYSTEM = (
    "You are a helpful teaching assistant. Answer the student's question in one or two short "
    "sentences, using only the source."
)


def demo_messages(question: str) -> list[dict[str, Any]]:
    """A system message and a user message with a short source passage, as Kateder sends."""
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"Source:\n{COURSE}\nQuestion: {question}"},
    ]


def _print_answer(label: str, question: str, result: tuple[float, float | None, str]) -> None:
    total, first, text = result
    first_s = f"{first:5.2f}s" if first is not None else "  -   "
    print(
        f"[{label}] {question}\n    total {total:5.2f}s  first sentence {first_s}  {len(text)} "
        f"chars: {' '.join(text.split())[:160]}",
        flush=True,
    )


def main() -> None:
    """Start the llama server and Open WebUI, ask the demo questions, print timings, stop."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--rag", action="store_true", help="also ask through an Open WebUI knowledge base"
    )
    parser.add_argument("--venv", type=Path, default=OWUI_VENV)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from core.model_files import minilm_dir, smollm2_gguf

    t0 = time.perf_counter()
    with start_llama_server(str(smollm2_gguf()), free_port(), n_threads=args.threads) as llama:
        print(
            f"llama_cpp.server ready in {llama.startup_s:.1f} s at {llama.base_url} (model "
            f"{llama.model_id}), RSS {llama.rss_mb():.0f} MiB",
            flush=True,
        )
        embedding = str(minilm_dir()) if args.rag else ""
        with OpenWebUI(llama.base_url, venv=args.venv, embedding_model=embedding) as owui:
            print(
                f"Open WebUI ready in {owui.startup_s:.1f} s at {owui.url} (model "
                f"{owui.model_id}), RSS {owui.rss_mb():.0f} MiB",
                flush=True,
            )
            owui.chat(demo_messages("Hello"), max_tokens=8, temperature=0.0)  # warm-up
            # all questions one way, then all the other: llama.cpp reuses the longest prompt prefix
            # of the previous request, so asking the same prompt twice in a row would favour the
            # second
            ask = {"max_tokens": args.max_tokens, "temperature": 0.0, "extra": DEMO_SAMPLING}
            via = [owui.chat(demo_messages(q), **ask) for q in DEMO_QUESTIONS]
            direct = [direct_chat(llama, demo_messages(q), **ask) for q in DEMO_QUESTIONS]
            for q, v, d in zip(DEMO_QUESTIONS, via, direct, strict=True):
                _print_answer("open-webui", q, v)
                _print_answer("llama server direct", q, d)
                print(f"    same text both ways: {v[2] == d[2]}", flush=True)
            if args.rag:
                t = time.perf_counter()
                kid = owui.add_knowledge("Science 7", COURSE)
                print(f"knowledge base {kid} built in {time.perf_counter() - t:.1f} s", flush=True)
                for q in DEMO_QUESTIONS:
                    _print_answer("open-webui rag", q, owui.rag_chat(q, kid, **ask))
            print(
                f"Open WebUI RSS after the questions {owui.rss_mb():.0f} MiB; llama server "
                f"{llama.rss_mb():.0f} MiB",
                flush=True,
            )
    print(f"stopped both servers; {time.perf_counter() - t0:.1f} s in all", flush=True)


if __name__ == "__main__":
    main()

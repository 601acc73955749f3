"""Configuration: every key declared once, here, with its default.

One precedence rule, everywhere (docs/operations.md, "Configuration"):

1. explicit configuration: the mapping given to ``create_app(config)`` (tests, embedding
   applications) or a command-line option;
2. the environment: ``KATEDER_<KEY>`` (``KATEDER_GUARD_BACKEND=rules`` sets ``GUARD_BACKEND``);
3. the default declared below (the guard's ``GUARD_*`` keys are declared in
   ``guard/__init__.py`` and merged in).

Environment values are parsed to the type of the default (int, float, bool); keys whose
default is a string or None are taken as strings. A ``KATEDER_*`` variable that names no
key is reported at start-up, with the closest key, so a typo does not silently fall back
to a default.
"""

from __future__ import annotations

import difflib
import logging
import os
from pathlib import Path
from typing import Any

from guard import DEFAULTS as GUARD_DEFAULTS

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    # where the SQLite file, Chroma, uploads and keys live
    "HOME": "instance",
    # a SQLAlchemy URL; empty means sqlite:///<HOME>/kateder.db
    "DATABASE_URL": "",
    # vector store: "chroma" (PersistentClient in HOME) or "chroma-http" (CHROMA_HOST/PORT)
    "VECTOR_BACKEND": "chroma",
    "CHROMA_HOST": "127.0.0.1",
    "CHROMA_PORT": 8000,
    # several Chroma servers, courses sharded over them (docs/operations.md, "Several Chroma
    # servers"): "name=host:port,name=host:port"; empty = the one CHROMA_HOST/CHROMA_PORT server. A
    # course's server is stored with the course; a course not yet routed goes to
    # CHROMA_DEFAULT_SERVER, or (empty) to a stable hash of its id over the servers
    "CHROMA_SERVERS": "",
    "CHROMA_DEFAULT_SERVER": "",
    # embedding model: "minilm" (bundled all-MiniLM-L6-v2), "e5" (bundled multilingual-e5-small),
    # or a path to a sentence-transformers directory. e5 by measurement: MiniLM is English-only,
    # BM25 + e5 was the best retriever in every language (docs/retrieval.md)
    "EMBEDDER": "e5",
    # generation: "llamacpp" (a local GGUF; empty path = bundled SmolLM2-135M-Instruct),
    # "openai" (an OpenAI-compatible server), "transformers" (a local HF directory)
    "GENERATOR": "llamacpp",
    "GENERATOR_MODEL_PATH": "",
    "GENERATOR_URL": "",
    "GENERATOR_MODEL": "",
    "GENERATOR_API_KEY": "not-needed",
    "GENERATOR_MAX_TOKENS": 160,
    "GENERATOR_CONTEXT": 2048,
    "GENERATOR_THREADS": 2,
    "GENERATOR_TIMEOUT": 60.0,
    "GENERATOR_TEMPERATURE": 0.1,
    # retrieval
    "RETRIEVAL_TOP_K": 4,
    # hybrid (BM25 + dense, fused) | bm25 | dense; see docs/retrieval.md for the measurements
    "RETRIEVAL_MODE": "hybrid",
    "RETRIEVAL_STEM": True,
    # lexical side: database (SQLite FTS5 / PostgreSQL full-text search, app/lexical.py) | memory
    # (in-process BM25)
    "LEXICAL_BACKEND": "database",
    # large courses (app/lexical.py): terms in more than this share of a course's passages select no
    # candidates, at most this many terms a query and matching rows ranked, candidates re-scored by
    # BM25
    "LEXICAL_COMMON_FRACTION": 0.05,
    "LEXICAL_MAX_TERMS": 16,
    "LEXICAL_CANDIDATE_ROWS": 5000,
    "LEXICAL_CANDIDATES": 200,
    # courses with fewer visible passages are searched without a query plan
    "LEXICAL_PLAN_FROM": 20000,
    # how hybrid fuses the two rankings: zscore (scores standardised per query) | rrf (ranks only)
    "RETRIEVAL_FUSION": "zscore",
    "RETRIEVAL_DENSE_WEIGHT": 0.5,  # the dense side's share of the fused score (0..1)
    # cosine floor; 0 = the floor measured for the configured embedder (app.retrieval.DENSE_FLOORS)
    "RETRIEVAL_DENSE_FLOOR": 0.0,
    "RETRIEVAL_LEXICAL_FLOOR": 0.5,
    # reranker of the best fused candidates: none (the relevance rule decides) | e5-cross
    # (trained cross-encoder + per-language calibrated answerability, app/reranker.py)
    "RETRIEVAL_RERANKER": "none",
    "RERANK_CANDIDATES": 20,
    "RERANKER_WEIGHTS": "",  # empty: the package's app/weights
    # grounding: drop generated sentences whose cited passage does not support them
    "GROUNDING_MIN_SUPPORT": 0.5,
    # output guard (docs/retrieval.md, "The output guard's window"): before a sentence is released
    # it reads the question and the last OUTPUT_GUARD_WINDOW sentences of the answer (the new one
    # included); the answer's final sentence is held back until the whole answer has passed.
    # 0 = the whole answer so far before every sentence
    "OUTPUT_GUARD_WINDOW": 3,
    # ingestion
    "MAX_UPLOAD_BYTES": 50 * 1024 * 1024,
    "CHUNK_TOKENS": 200,
    "CHUNK_OVERLAP_TOKENS": 30,
    "MAX_UNZIPPED_BYTES": 300 * 1024 * 1024,  # DOCX/PPTX/ODT: total size unpacked
    "MAX_ZIP_RATIO": 120.0,  # DOCX/PPTX/ODT: largest compression ratio of a member over 1 MB
    # per document (docs/operations.md): more extracted text or passages than this is refused
    # with a clear message; a text or Markdown file over 4 bytes per allowed character is refused
    # at upload
    "MAX_DOCUMENT_CHARS": 2_000_000,
    "MAX_DOCUMENT_PASSAGES": 5000,
    "EMBED_BATCH": 64,
    # load/split/scan in a thread while embedding (only helps with idle cores)
    "INGEST_OVERLAP": False,
    "JOBS_IN_PROCESS": True,  # run ingestion jobs in a thread of the web process
    "JOB_LEASE_SECONDS": 120,  # a running job without progress for this long is taken over
    "JOB_MAX_ATTEMPTS": 3,
    # web
    "SECRET_KEY": "",
    # hex HMAC key for audit pseudonyms; empty = <HOME>/secrets/pseudonym.key
    "PSEUDONYM_KEY": "",
    "ALERT_POLL_MS": 20000,  # how often the teacher's page checks for critical alerts
    # crisis alerts by e-mail (app/notify.py, app/services/alerts.py): off while SMTP_HOST is empty;
    # each school's admin then turns them on and sets the recipient (/teach/notifications)
    "SMTP_HOST": "",
    "SMTP_PORT": 0,  # 0 = by SMTP_SECURITY: 25 (none), 587 (starttls), 465 (tls)
    "SMTP_FROM": "kateder@localhost",
    "SMTP_TIMEOUT": 10.0,
    # none (a local relay, clear text) | starttls (required: a server without it gets nothing) | tls
    # (implicit TLS, "SMTPS"). The certificate is verified against the system's CAs or SMTP_CA_FILE
    # (PEM)
    "SMTP_SECURITY": "none",
    "SMTP_CA_FILE": "",
    # optional login, only ever sent over TLS; the password from the environment
    # (KATEDER_SMTP_PASSWORD) or the secret store, never stored in the database or shown in the web
    "SMTP_USERNAME": "",
    "SMTP_PASSWORD": "",
    # this instance's address as people open it (e.g. https://kateder.school.example): links in
    # e-mails
    "PUBLIC_URL": "",
    "TOKEN_TTL_HOURS": 12,  # API bearer tokens (revocable: DELETE /api/v1/tokens/current)
    # browser sessions (docs/operations.md): signed out after this long without a request, and
    # after this long in all (a school day); sign-out, password change and erasure end them at once
    "SESSION_IDLE_MINUTES": 60,
    "SESSION_MAX_HOURS": 12,
    "COOKIE_SECURE": True,  # the Secure flag on cookies; false only for plain-http localhost
    # sign-in throttling: per account, after LOGIN_FREE_ATTEMPTS wrong passwords in a row the
    # account waits LOGIN_BACKOFF_SECONDS, doubling per further failure up to the maximum
    "LOGIN_FREE_ATTEMPTS": 5,
    "LOGIN_BACKOFF_SECONDS": 30,
    "LOGIN_BACKOFF_MAX_SECONDS": 900,
    # rate limits (flask-limiter syntax); the sign-in limit is per address and loose on purpose:
    # a whole school may sign in from one NAT address
    # where the counters live (the rate limits and the daily question limit): memory:// holds for
    # one process only; with several gunicorn workers use Redis, e.g. redis://127.0.0.1:6379/0
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_KEY_PREFIX": "kateder",  # one prefix per Kateder instance sharing a Redis
    "RATELIMIT_STORAGE_TIMEOUT": 1.0,  # seconds; past it (or Redis down) each worker counts alone
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_ASK": "20 per minute",  # per student
    "RATELIMIT_ASK_ADDRESS": "200 per minute",  # per address
    "RATELIMIT_LOGIN": "60 per minute",  # per address
    # sign-in with the school's OpenID Connect provider (all three, or none)
    "OIDC_ISSUER": "",
    "OIDC_CLIENT_ID": "",
    "OIDC_CLIENT_SECRET": "",
    # one provider per school, with role mapping from a claim: a TOML file (docs/operations.md,
    # "Single sign-on")
    "OIDC_PROVIDERS": "",
    # GDPR (docs/gdpr.md): message text "encrypted" (per student, crypto-shreddable), "plain" or
    # "none"
    "MESSAGE_TEXT_STORAGE": "encrypted",
    # hex AES-256 master key wrapping the per-student keys; empty = <HOME>/secrets/master.key
    "MASTER_KEY": "",
    # retention in days per data category (a DPO can override them in the database)
    "RETENTION_CONVERSATION_TEXT_DAYS": 30,
    "RETENTION_CONVERSATIONS_DAYS": 180,
    "RETENTION_AUDIT_DETAILS_DAYS": 183,
    "RETENTION_AUDIT_EVENTS_DAYS": 1095,
    "RETENTION_ACCESS_LOG_DAYS": 1095,
    "RETENTION_EXPORTS_DAYS": 30,
    # record of processing (docs/dpia.md); fill these in for your school
    "CONTROLLER_NAME": "",
    "DPO_CONTACT": "",
    "HOSTING_LOCATION": "on the school's own server (no data leaves it)",
    "LEGAL_BASIS": "GDPR Art. 6(1)(e): task carried out in the public interest (education)",
    # the DPIA export's guard evaluation: a saved `kateder guard eval --json` report; empty = the
    # newest <HOME>/reports/guard-eval*.json, else the shipped model card
    "GUARD_EVAL_REPORT": "",
}


# the production server (gunicorn.conf.py): read from the environment by gunicorn's master
SERVER_DEFAULTS: dict[str, Any] = {
    "BIND": "127.0.0.1:8000",
    "THREADS": 4,  # threads per worker process
    "WORKER_TIMEOUT": 120,  # seconds
    "MAX_REQUESTS": 0,  # restart a worker after this many requests (0: never)
    "ACCESS_LOG": "-",
    "WARM_WORKERS": False,  # load the models in each worker at start
}
DEFAULTS.update(SERVER_DEFAULTS)
DEFAULTS.update(GUARD_DEFAULTS)

# KATEDER_* variables that are not configuration keys: tools and test suites read them directly
ENVIRONMENT_ONLY = frozenset(
    {
        "KATEDER_EVAL_DATA",  # app/evaluation/converters.py: the evaluation data folder
        # app/reranker_training.py: cached embeddings, candidates and logits
        "KATEDER_RERANKER_CACHE",
        "KATEDER_TEST_PG",  # tests: the PostgreSQL admin URL
        "KATEDER_PRODUCTION_GUARD",  # tests/production: the guard backend of the production suite
        "KATEDER_SHARED_DATA",  # guard data and evaluation harnesses: the shared data folder
        "KATEDER_DATA",  # bench/guard_latency.py: the data folder
        "KATEDER_AXE_JS",  # tests/e2e: a local copy of axe-core
        "KATEDER_SCREENSHOT_DIR",  # tests/e2e: where the page tour writes its screenshots
        # tests/e2e: the real shipped models instead of the fakes (docs/ui.md, "Screenshots")
        "KATEDER_E2E_REAL_MODELS",
    }
)
_reported: set[str] = set()


def unknown_variables(environ: dict[str, str] | None = None) -> list[tuple[str, str | None]]:
    """``KATEDER_*`` variables that name no key, each with the closest key's variable (or None)."""
    environ = os.environ if environ is None else environ
    names = [f"KATEDER_{key}" for key in DEFAULTS]
    unknown = []
    for name in sorted(environ):
        if (
            name.startswith("KATEDER_")
            and name not in ENVIRONMENT_ONLY
            and name.removeprefix("KATEDER_") not in DEFAULTS
        ):
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.75)
            unknown.append((name, close[0] if close else None))
    return unknown


def _coerce(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def load_config(
    overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None
) -> dict[str, Any]:
    """Merge code defaults, ``KATEDER_*`` environment variables and explicit overrides."""
    environ = os.environ if environ is None else environ
    for name, close in unknown_variables(environ):
        if name not in _reported:  # once per process, at start-up (create_app, the CLI, gunicorn)
            _reported.add(name)
            log.warning(
                "%s is not a Kateder setting and is ignored%s",
                name,
                f" (did you mean {close}?)" if close else "",
            )
    config = dict(DEFAULTS)
    for name, raw in environ.items():
        if not name.startswith("KATEDER_"):
            continue
        key = name.removeprefix("KATEDER_")
        if key not in DEFAULTS:  # reported above
            continue
        try:
            config[key] = _coerce(raw, DEFAULTS[key])
        except ValueError:
            raise ValueError(
                f"{name}={raw!r} is not a valid {type(DEFAULTS[key]).__name__}"
            ) from None
    config.update(overrides or {})
    home = Path(config["HOME"]).resolve()
    config["HOME"] = str(home)
    if not config["DATABASE_URL"]:
        config["DATABASE_URL"] = f"sqlite:///{home / 'kateder.db'}"
    return config

"""Configuration: defaults in code, overridden by ``KATEDER_*`` environment variables.

Every key can be overridden: ``KATEDER_GUARD_BACKEND=rules`` sets ``GUARD_BACKEND``.
Values are parsed to the type of the default (int, float, bool); keys without a default
are taken as strings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, Any] = {
    # where the SQLite file, Chroma, uploads and keys live
    "HOME": "instance",
    # a SQLAlchemy URL; empty means sqlite:///<HOME>/kateder.db
    "DATABASE_URL": "",
    # vector store: "chroma" (PersistentClient in HOME) or "chroma-http" (CHROMA_HOST/PORT)
    "VECTOR_BACKEND": "chroma",
    "CHROMA_HOST": "127.0.0.1",
    "CHROMA_PORT": 8000,
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
    # retrieval
    "RETRIEVAL_TOP_K": 4,
    # hybrid (BM25 + dense, RRF) | bm25 | dense; see docs/retrieval.md for the measurements
    "RETRIEVAL_MODE": "hybrid",
    "RETRIEVAL_STEM": True,
    # cosine floor; 0 = the floor measured for the configured embedder (app.retrieval.DENSE_FLOORS)
    "RETRIEVAL_DENSE_FLOOR": 0.0,
    "RETRIEVAL_LEXICAL_FLOOR": 0.5,
    # grounding: drop generated sentences whose cited passage does not support them
    "GROUNDING_MIN_SUPPORT": 0.5,
    # ingestion
    "MAX_UPLOAD_BYTES": 50 * 1024 * 1024,
    "CHUNK_TOKENS": 200,
    "CHUNK_OVERLAP_TOKENS": 30,
    "MAX_UNZIPPED_BYTES": 300 * 1024 * 1024,  # DOCX/PPTX/ODT: total size unpacked
    "MAX_ZIP_RATIO": 120.0,  # DOCX/PPTX/ODT: largest compression ratio of a member over 1 MB
    "EMBED_BATCH": 64,
    "INGEST_OVERLAP": False,  # load/split/scan in a thread while embedding (only helps with idle cores)
    "JOBS_IN_PROCESS": True,  # run ingestion jobs in a thread of the web process
    "JOB_LEASE_SECONDS": 120,  # a running job without progress for this long is taken over
    "JOB_MAX_ATTEMPTS": 3,
    # web
    "SECRET_KEY": "",
    "TOKEN_TTL_HOURS": 12,
    # GDPR (docs/gdpr.md): message text "encrypted" (per student, crypto-shreddable), "plain" or "none"
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
}


def _coerce(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def load_config(overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Merge code defaults, ``KATEDER_*`` environment variables and explicit overrides."""
    environ = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    for name, raw in environ.items():
        if not name.startswith("KATEDER_"):
            continue
        key = name.removeprefix("KATEDER_")
        try:
            config[key] = _coerce(raw, DEFAULTS.get(key, ""))
        except ValueError:
            raise ValueError(f"{name}={raw!r} is not a valid {type(DEFAULTS[key]).__name__}") from None
    config.update(overrides or {})
    home = Path(config["HOME"]).resolve()
    config["HOME"] = str(home)
    if not config["DATABASE_URL"]:
        config["DATABASE_URL"] = f"sqlite:///{home / 'kateder.db'}"
    return config

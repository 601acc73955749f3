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
    # or a path to a sentence-transformers directory
    "EMBEDDER": "minilm",
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
    "RETRIEVAL_DENSE_FLOOR": 0.35,
    "RETRIEVAL_LEXICAL_FLOOR": 0.5,
    # ingestion
    "MAX_UPLOAD_BYTES": 50 * 1024 * 1024,
    "CHUNK_TOKENS": 200,
    "CHUNK_OVERLAP_TOKENS": 30,
    # web
    "SECRET_KEY": "",
    "TOKEN_TTL_HOURS": 12,
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

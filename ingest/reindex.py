"""Rebuild a course's vectors from the passages in the database (``kateder reindex``).

Needed after changing ``EMBEDDER`` (a collection records its embedder, and a query with
another one is refused) or to rebuild a lost Chroma folder. The database holds every
passage's text and provenance, so nothing has to be uploaded again. The new vectors are
written to a staging collection and swapped in at the end: until then students keep
searching the old ones, and a failure leaves them as they were.

With several Chroma servers, ``kateder reindex --to-server NAME`` moves a course's vectors
to another server the same way: the old server answers until the new one is complete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import select

from core.models import Course, Document, Passage
from ingest.pipeline import vector_metadata
from ingest.routing import MoveResult, RoutingStore, move_course
from ingest.store import Batch, MaterialChanged

__all__ = [
    "MaterialChanged",
    "compact_collection",
    "embedded_batches",
    "move_to_server",
    "reindex_course",
]


def reindex_course(
    db,
    embedder,
    store,
    course_id: int,
    *,
    batch: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Re-embed the searchable passages of one course with ``embedder``; how many were written.

    ``progress(done, total)`` is called after each batch. Raises :class:`MaterialChanged`
    (and keeps the old vectors) when the course's material changed meanwhile.
    """
    return store.replace(
        course_id, embedded_batches(db, embedder, course_id, batch=batch, progress=progress)
    )


def embedded_batches(
    db,
    embedder,
    course_id: int,
    *,
    batch: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[Batch]:
    """The course's searchable passages, re-embedded ``batch`` at a time.

    Read now (LookupError for an unknown course); when the batches are used up, raises
    :class:`MaterialChanged` if the course's material changed meanwhile.
    """
    version = _content_version(db, course_id)
    if version is None:
        raise LookupError(f"no course with id {course_id}")
    with db.session() as s:
        rows = s.execute(
            select(Passage, Document.title)
            .join(Document, Passage.document_id == Document.id)
            .where(
                Passage.course_id == course_id,
                Passage.version == Document.version,
                Passage.status == "indexed",
            )
            .order_by(Passage.document_id, Passage.ordinal)
        ).all()
        passages = [
            (p.id, p.text, vector_metadata(p.document_id, p.version, title, p)) for p, title in rows
        ]

    def batches() -> Iterator[Batch]:
        for start in range(0, len(passages), batch):
            chunk = passages[start : start + batch]
            vectors = embedder.embed_documents([text for _, text, _ in chunk])
            yield (
                [pid for pid, _, _ in chunk],
                vectors,
                [text for _, text, _ in chunk],
                [meta for _, _, meta in chunk],
            )
            if progress is not None:
                progress(min(start + batch, len(passages)), len(passages))
        if (
            _content_version(db, course_id) != version
        ):  # checked before the swap: an upload meanwhile would be lost
            raise MaterialChanged(
                "the course's material changed during the re-index; nothing was replaced, "
                "run it again"
            )

    return batches()


def move_to_server(
    db,
    store: RoutingStore,
    course_id: int,
    target: str,
    *,
    embedder=None,
    batch: int = 32,
    drain_seconds: float = 5.0,
    progress: Callable[[int, int], None] | None = None,
) -> MoveResult:
    """Move a course's vectors to the Chroma server ``target`` (``kateder reindex --to-server``).

    Without ``embedder`` the old server's vectors are copied; with it the database's passages
    are re-embedded (the old server is lost, or ``EMBEDDER`` changes at the same time). The
    course answers from the old server until the new one holds everything
    (:func:`ingest.routing.move_course`).
    """
    if _content_version(db, course_id) is None:
        raise LookupError(f"no course with id {course_id}")
    rebuild = None
    if embedder is not None:

        def rebuild() -> Iterator[Batch]:
            return embedded_batches(db, embedder, course_id, batch=batch, progress=progress)

    return move_course(
        store,
        course_id,
        target,
        rebuild=rebuild,
        embed=embedder.embed_documents if embedder is not None else None,
        content_version=lambda: _content_version(db, course_id),
        drain_seconds=drain_seconds,
        progress=None if embedder is not None else progress,
    )


def compact_collection(
    store: Any, course_id: int, *, db=None, progress: Callable[[int], None] | None = None
) -> bool:
    """Rebuild a course's vectors from the store's own entries, so deleted passages leave its logs
    too (erasure).

    Chroma keeps every upsert in its embedded log until the segment is flushed; dropping a
    collection drops that log. The course's own entries are copied into a replacement
    collection, which is then swapped in through the store's interface (``replace``, as
    :func:`reindex_course` does): students keep searching the live collection meanwhile, and
    a crash part-way leaves it intact. With ``db``, a change to the course's material during
    the copy stops the swap (the upload would be lost; :class:`MaterialChanged`).
    ``progress(copied)`` is called after each page is written to the replacement. False
    when the store cannot list its entries (nothing to compact).
    """
    if not all(hasattr(store, name) for name in ("entries", "replace")):
        return False
    version = _content_version(db, course_id) if db is not None else None

    def batches() -> Iterator[Batch]:
        copied = 0
        for batch in store.entries(course_id):
            yield batch
            copied += len(batch[0])
            if progress is not None:
                progress(copied)
        if db is not None and _content_version(db, course_id) != version:
            raise MaterialChanged("the course's material changed during compaction; run it again")

    store.replace(course_id, batches())
    vacuum = getattr(store, "vacuum", None)
    if vacuum is not None:
        vacuum()
    return True


def _content_version(db, course_id: int) -> int | None:
    with db.session() as s:
        return s.scalar(select(Course.content_version).where(Course.id == course_id))

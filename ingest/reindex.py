"""Rebuild a course's vectors from the passages in the database (``kateder reindex``).

Needed after changing ``EMBEDDER`` (a collection records its embedder, and a query with
another one is refused) or to rebuild a lost Chroma folder. The database holds every
passage's text and provenance, so nothing has to be uploaded again. The new vectors are
written to a staging collection and swapped in at the end: until then students keep
searching the old ones, and a failure leaves them as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sqlalchemy import select

from core.models import Course, Document, Passage
from ingest.pipeline import vector_metadata
from ingest.store import Batch, MaterialChanged

__all__ = ["MaterialChanged", "reindex_course"]


def reindex_course(db, embedder, store, course_id: int, *, batch: int = 32,
                   progress: Callable[[int, int], None] | None = None) -> int:
    """Re-embed the searchable passages of one course with ``embedder``; how many were written.

    ``progress(done, total)`` is called after each batch. Raises :class:`MaterialChanged`
    (and keeps the old vectors) when the course's material changed meanwhile.
    """
    with db.session() as s:
        version = s.scalar(select(Course.content_version).where(Course.id == course_id))
        if version is None:
            raise LookupError(f"no course with id {course_id}")
        rows = s.execute(
            select(Passage, Document.title)
            .join(Document, Passage.document_id == Document.id)
            .where(Passage.course_id == course_id, Passage.version == Document.version, Passage.status == "indexed")
            .order_by(Passage.document_id, Passage.ordinal)
        ).all()
        passages = [(p.id, p.text, vector_metadata(p.document_id, p.version, title, p)) for p, title in rows]

    def batches() -> Iterator[Batch]:
        for start in range(0, len(passages), batch):
            chunk = passages[start : start + batch]
            vectors = embedder.embed_documents([text for _, text, _ in chunk])
            yield [pid for pid, _, _ in chunk], vectors, [text for _, text, _ in chunk], [meta for _, _, meta in chunk]
            if progress is not None:
                progress(min(start + batch, len(passages)), len(passages))
        with db.session() as s:  # checked before the swap: an upload meanwhile would be lost
            if s.scalar(select(Course.content_version).where(Course.id == course_id)) != version:
                raise MaterialChanged("the course's material changed during the re-index; nothing was replaced, run it again")

    return store.replace(course_id, batches())


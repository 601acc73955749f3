"""The ingestion pipeline: validate -> store -> load -> split -> scan -> embed -> upsert -> publish.

A new version of a document becomes visible in one database transaction (the document's
``version`` flips), after all its vectors are in Chroma; the old version's vectors are
removed afterwards. Students therefore never see a mix of versions, or a gap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, update

from app.models import Course, Document, Passage
from ingest import loaders
from ingest.files import FileStore, safe_filename, sha256
from ingest.loaders import IngestError
from ingest.split import split

Progress = Callable[[str, float], None]


@dataclass
class IngestResult:
    """What happened to one file."""

    document_id: int
    filename: str
    version: int
    status: str  # ready | unchanged | held
    passages: int = 0
    held: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the CLI and the API."""
        return dict(self.__dict__)


class IngestPipeline:
    """Turns uploaded files into searchable passages of one course."""

    def __init__(self, db, embedder, store, moderator, config: Mapping[str, Any], files: FileStore) -> None:
        """Wire the steps to the database, the embedder, the vector store and the guard."""
        self.db, self.embedder, self.store, self.moderator = db, embedder, store, moderator
        self.files = files
        self.max_bytes = int(config.get("MAX_UPLOAD_BYTES", 50 * 1024 * 1024))
        self.chunk_words = int(config.get("CHUNK_TOKENS", 200)) * 3 // 4
        self.overlap_words = int(config.get("CHUNK_OVERLAP_TOKENS", 30)) * 3 // 4
        self.batch = 32

    def ingest(
        self,
        course_id: int,
        filename: str,
        data: bytes,
        *,
        uploaded_by: int | None = None,
        title: str | None = None,
        progress: Progress | None = None,
    ) -> IngestResult:
        """Ingest one file into a course; raise IngestError with a clear reason on bad input."""
        report = progress or (lambda stage, frac: None)
        name = safe_filename(filename)
        if not data:
            raise IngestError(f"{name}: the file is empty")
        if len(data) > self.max_bytes:
            raise IngestError(f"{name}: the file is {len(data) / 1e6:.1f} MB; the limit is {self.max_bytes / 1e6:.0f} MB")
        digest = sha256(data)
        report("validate", 0.02)

        with self.db.session() as s:
            if s.get(Course, course_id) is None:
                raise IngestError(f"course {course_id} does not exist")
            same = s.scalar(select(Document).where(Document.course_id == course_id, Document.content_hash == digest, Document.version > 0))
            if same is not None:
                return IngestResult(same.id, same.filename, same.version, "unchanged", notes=["identical content is already indexed"])

        segments = loaders.load(name, data)
        report("load", 0.1)
        chunks = split(segments, self.chunk_words, self.overlap_words)
        if not chunks:
            raise IngestError(f"{name}: no text could be extracted")
        report("split", 0.15)

        self.files.put(data)
        with self.db.session() as s:
            doc = s.scalar(select(Document).where(Document.course_id == course_id, Document.filename == name))
            if doc is None:
                heading = (segments[0].section or "").split(" > ")[0]
                doc = Document(course_id=course_id, filename=name, title=title or heading or _title(name), content_hash=digest, version=0)
                s.add(doc)
                s.flush()
            doc.status = "indexing"
            new_version = doc.version + 1
            doc_id, title_ = doc.id, doc.title
        # a previous attempt at this version may have been killed half-way: start clean
        self.store.delete(course_id, where={"$and": [{"document_id": doc_id}, {"version": new_version}]})

        held: dict[int, str] = {}
        for i, chunk in enumerate(chunks):
            verdict = self.moderator.check_material(chunk.text, language=chunk.language)
            if not verdict.allowed:
                held[chunk.ordinal] = ", ".join(verdict.verdict.categories) or verdict.verdict.error or "flagged"
            report("scan", 0.15 + 0.15 * (i + 1) / len(chunks))

        visible = [c for c in chunks if c.ordinal not in held]
        for start in range(0, len(visible), self.batch):
            batch = visible[start : start + self.batch]
            vectors = self.embedder.embed_documents([c.text for c in batch])
            self.store.upsert(
                course_id,
                [f"{doc_id}:{new_version}:{c.ordinal}" for c in batch],
                vectors,
                [c.text for c in batch],
                [
                    {"document_id": doc_id, "version": new_version, "page": c.page, "section": c.section, "language": c.language, "title": title_}
                    for c in batch
                ],
            )
            report("embed", 0.3 + 0.65 * min(1.0, (start + len(batch)) / max(1, len(visible))))

        with self.db.session() as s:
            for c in chunks:
                s.add(
                    Passage(
                        id=f"{doc_id}:{new_version}:{c.ordinal}",
                        document_id=doc_id,
                        course_id=course_id,
                        version=new_version,
                        ordinal=c.ordinal,
                        text=c.text,
                        page=c.page,
                        section=c.section,
                        char_start=c.char_start,
                        char_end=c.char_end,
                        language=c.language,
                        status="held" if c.ordinal in held else "indexed",
                        flag_reason=held.get(c.ordinal),
                    )
                )
            doc = s.get(Document, doc_id)
            old_version, old_hash = doc.version, doc.content_hash
            doc.version = new_version
            doc.content_hash = digest
            doc.size_bytes = len(data)
            doc.storage_path = digest
            doc.language = _majority([c.language for c in chunks])
            doc.status = "held" if held else "ready"
            doc.error = None
            s.execute(update(Course).where(Course.id == course_id).values(content_version=Course.content_version + 1))
            s.execute(delete(Passage).where(Passage.document_id == doc_id, Passage.version == old_version))
        if old_version:
            self.store.delete(course_id, where={"$and": [{"document_id": doc_id}, {"version": old_version}]})
            if old_hash != digest:
                self._drop_file_if_unused(old_hash)
        report("done", 1.0)
        return IngestResult(doc_id, name, new_version, "held" if held else "ready", len(visible), len(held))

    def delete_document(self, document_id: int) -> None:
        """Remove a document's rows, vectors and stored file."""
        with self.db.session() as s:
            doc = s.get(Document, document_id)
            if doc is None:
                raise IngestError(f"document {document_id} does not exist")
            course_id, digest = doc.course_id, doc.content_hash
            s.delete(doc)
            s.execute(update(Course).where(Course.id == course_id).values(content_version=Course.content_version + 1))
        self.store.delete(course_id, where={"document_id": document_id})
        self._drop_file_if_unused(digest)

    def _drop_file_if_unused(self, digest: str) -> None:
        with self.db.session() as s:
            if s.scalar(select(Document.id).where(Document.content_hash == digest)) is None:
                self.files.delete(digest)


def _title(filename: str) -> str:
    stem = filename.rsplit(".", 1)[0]
    return stem.replace("_", " ").replace("-", " ").strip().capitalize() or filename


def _majority(values: list[str]) -> str | None:
    return max(set(values), key=values.count) if values else None

"""The ingestion pipeline: validate -> store -> load -> split -> scan -> embed -> upsert -> publish.

A new version of a document becomes visible in one database transaction (the document's
``version`` flips and its passage rows appear), after all its vectors are in Chroma; the
old version's vectors are removed afterwards. Students therefore never see a mix of
versions, or a gap; a run killed half-way leaves only invisible vectors, which the next
attempt at the same version removes first.

Loading, splitting and the safety scan (``ingest/scan.py``) run in a producer thread while the
calling thread embeds and upserts, so parsing overlaps with the model (``bench/ingest_speed.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, update

from core.models import Course, Document, GuardVerdict, Passage
from ingest import loaders, validate
from ingest.errors import IngestError
from ingest.files import FileStore, sha256
from ingest.loaders import Segment
from ingest.scan import Scanned, in_producer_thread, scanned_batches, within_text_limit
from ingest.split import Chunk, Splitter
from ingest.tokens import build_tokenize

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Upload:
    """A validated upload: safe name, format and content hash."""

    filename: str
    fmt: str
    digest: str
    size: int


@dataclass
class IngestResult:
    """What happened to one file."""

    document_id: int
    filename: str
    version: int
    status: str  # ready | unchanged | held
    passages: int = 0
    held: int = 0
    pages: int = 0
    notes: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the CLI and the API."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class _NewVersion:
    """The document version one run indexes, and what the run needs from its course."""

    course_id: int
    doc_id: int
    version: int
    title: str
    language: str  # the course's, for passages whose language is not detected
    policy_data: dict[str, Any]
    auto_title: bool  # no title was given for a new document: take its first heading


@dataclass
class _Embedded:
    """What :meth:`IngestPipeline._embed_all` did: every scanned passage and the time spent."""

    scanned: list[Scanned] = field(default_factory=list)
    vectors: int = 0
    embed_s: float = 0.0
    upsert_s: float = 0.0
    wait_s: float = 0.0


class IngestPipeline:
    """Turns uploaded files into searchable passages of one course."""

    def __init__(
        self, db, embedder, store, moderator, config: Mapping[str, Any], files: FileStore
    ) -> None:
        """Wire the steps to the database, the embedder, the vector store and the guard."""
        self.db, self.embedder, self.store, self.moderator = db, embedder, store, moderator
        self.files = files
        self.config = config
        self.limits = validate.Limits.from_config(config)
        self.chunk_tokens = int(config.get("CHUNK_TOKENS", 200))
        self.overlap_tokens = int(config.get("CHUNK_OVERLAP_TOKENS", 30))
        self.batch = int(config.get("EMBED_BATCH", 64))
        self.overlap = bool(config.get("INGEST_OVERLAP", False))
        # per document: extracted text and passages (a huge file would keep the one ingestion
        # thread busy for hours)
        self.max_chars = int(config.get("MAX_DOCUMENT_CHARS", 2_000_000))
        self.max_passages = int(config.get("MAX_DOCUMENT_PASSAGES", 5000))
        self._splitter: Splitter | None = None
        self._lock = threading.Lock()

    @property
    def splitter(self) -> Splitter:
        """The token-measured splitter (built once: loads the tokenizer and NLTK's punkt)."""
        if self._splitter is None:
            with self._lock:
                if self._splitter is None:
                    self._splitter = Splitter(
                        build_tokenize(self.config, self.embedder),
                        self.chunk_tokens,
                        self.overlap_tokens,
                    )
        return self._splitter

    # ------------------------------------------------------------------ steps

    def prepare(self, filename: str, data: bytes) -> Upload:
        """Validate name, size, magic bytes and zip structure; open the document once."""
        name = validate.safe_filename(filename)
        fmt = validate.check(name, data, self.limits)
        if (
            fmt in PLAIN_FORMATS and len(data) > 4 * self.max_chars
        ):  # a UTF-8 character has at most 4 bytes
            raise IngestError("too_much_text", name=name, limit=f"{self.max_chars:,}")
        loaders.open_document(fmt, data, name)  # fails fast on encrypted or damaged files
        return Upload(name, fmt, sha256(data), len(data))

    def store_original(self, data: bytes) -> str:
        """Keep the original, content-addressed; return its digest."""
        return self.files.put(data)

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
        """Ingest one file now (CLI, demo); raise IngestError with a clear reason on bad input."""
        upload = self.prepare(filename, data)
        self.store_original(data)
        try:
            return self.run(
                course_id, upload, uploaded_by=uploaded_by, title=title, progress=progress
            )
        except BaseException:
            self.drop_file_if_unused(upload.digest)
            raise

    def run(
        self,
        course_id: int,
        upload: Upload,
        *,
        uploaded_by: int | None = None,
        title: str | None = None,
        progress: Progress | None = None,
    ) -> IngestResult:
        """Index a stored, validated upload as the next version of its document (idempotent)."""
        report = progress or (lambda stage, frac: None)
        t0 = time.perf_counter()
        report("load", 0.01)
        with self.db.session() as s:
            course = s.get(Course, course_id)
            if course is None:
                raise IngestError("no_course", course=course_id)
            course_language, policy_data = course.language, dict(course.policy or {})
            same = s.scalar(
                select(Document).where(
                    Document.course_id == course_id,
                    Document.content_hash == upload.digest,
                    Document.version > 0,
                )
            )
            if same is not None:
                report("done", 1.0)
                return IngestResult(
                    same.id,
                    same.filename,
                    same.version,
                    "unchanged",
                    notes=["identical content is already indexed"],
                )
            doc = s.scalar(
                select(Document).where(
                    Document.course_id == course_id, Document.filename == upload.filename
                )
            )
            if doc is None:
                doc = Document(
                    course_id=course_id,
                    filename=upload.filename,
                    title=title or _title(upload.filename),
                    content_hash=upload.digest,
                    version=0,
                    uploaded_by=uploaded_by,
                )
                s.add(doc)
                s.flush()
            elif title:
                doc.title = title
            new = _NewVersion(
                course_id,
                doc.id,
                doc.version + 1,
                doc.title,
                course_language,
                policy_data,
                auto_title=not title and doc.version == 0,
            )
            previous_status = doc.status if doc.version else None
            doc.status = "indexing"
            doc.mime_type = validate.MIME_TYPES[upload.fmt]
        try:
            return self._index(new, upload, report, t0)
        except BaseException:
            self._abandon(new.doc_id, new.version, previous_status, course_id)
            raise

    def _index(self, new: _NewVersion, upload: Upload, report: Progress, t0: float) -> IngestResult:
        """Embed the new version invisibly, publish it, then remove the old version's vectors."""
        # a previous attempt at this version may have been killed half-way: start clean
        self._delete_version(new.course_id, new.doc_id, new.version)
        data = self.files.get(upload.digest)
        total_segments, segments = loaders.open_document(upload.fmt, data, upload.filename)
        t_load = time.perf_counter()
        embedded = self._embed_all(new, upload.filename, segments, total_segments, report)
        scanned = embedded.scanned
        if not scanned:
            raise IngestError(
                "no_text_layer" if upload.fmt == "pdf" else "no_text", name=upload.filename
            )
        report("publish", 0.96)
        t_publish = time.perf_counter()
        held = [x for x in scanned if x.held_reason is not None]
        notes = _skipped_pages(scanned, total_segments) if upload.fmt == "pdf" else []
        heading = _first_heading(scanned) if new.auto_title else ""
        old_version, old_hash = self._publish(new, upload, scanned, held, heading[:300])
        if old_version:
            self._retire(new, old_version, old_hash, upload.digest)
        report("done", 1.0)
        total = time.perf_counter() - t0
        return IngestResult(
            new.doc_id,
            upload.filename,
            new.version,
            "held" if held else "ready",
            embedded.vectors,
            len(held),
            pages=total_segments if upload.fmt in ("pdf", "pptx") else 0,
            notes=notes,
            timings_s={
                "total": round(total, 3),
                "open": round(t_load - t0, 3),
                "wait_for_chunks": round(embedded.wait_s, 3),
                "embed": round(embedded.embed_s, 3),
                "upsert": round(embedded.upsert_s, 3),
                "publish": round(time.perf_counter() - t_publish, 3),
            },
        )

    def _embed_all(
        self,
        new: _NewVersion,
        name: str,
        segments: Iterable[Segment],
        total_segments: int,
        report: Progress,
    ) -> _Embedded:
        """Scan the document batch by batch; embed and upsert each batch's searchable passages.

        The vectors carry the new version, which no search returns before :meth:`_publish`;
        held passages are kept for the database but not embedded.
        """
        embedded = _Embedded()
        t_wait = time.perf_counter()
        for batch in self._produce(
            within_text_limit(segments, self.max_chars, name), new.language, new.policy_data, name
        ):
            embedded.wait_s += time.perf_counter() - t_wait
            embedded.scanned.extend(batch)
            visible = [x.chunk for x in batch if x.held_reason is None]
            if visible:
                t = time.perf_counter()
                vectors = self.embedder.embed_documents([c.text for c in visible])
                embedded.embed_s += time.perf_counter() - t
                t = time.perf_counter()
                self.store.upsert(
                    new.course_id,
                    [passage_id(new.doc_id, new.version, c.ordinal) for c in visible],
                    vectors,
                    [c.text for c in visible],
                    [vector_metadata(new.doc_id, new.version, new.title, c) for c in visible],
                )
                embedded.upsert_s += time.perf_counter() - t
                embedded.vectors += len(visible)
            done = (batch[-1].segment_index + 1) / max(1, total_segments)
            report("embed", 0.02 + 0.93 * min(1.0, done))
            t_wait = time.perf_counter()
        return embedded

    def _produce(
        self, segments: Iterable[Segment], language: str, policy_data: dict, name: str = ""
    ) -> Iterator[list[Scanned]]:
        """The scanned batches, made in a producer thread while the caller embeds when
        ``INGEST_OVERLAP`` is on."""
        batches = scanned_batches(
            segments,
            splitter=self.splitter,
            moderator=self.moderator,
            language=language,
            policy_data=policy_data,
            batch=self.batch,
            max_passages=self.max_passages,
            name=name,
        )
        yield from (in_producer_thread(batches) if self.overlap else batches)

    def _publish(
        self,
        new: _NewVersion,
        upload: Upload,
        scanned: list[Scanned],
        held: list[Scanned],
        title: str,
    ) -> tuple[int, str]:
        """Flip the document to the new version in one transaction."""
        course_id, doc_id, new_version = new.course_id, new.doc_id, new.version
        with self.db.session() as s:
            s.add_all(
                Passage(
                    id=passage_id(doc_id, new_version, x.chunk.ordinal),
                    document_id=doc_id,
                    course_id=course_id,
                    version=new_version,
                    ordinal=x.chunk.ordinal,
                    text=x.chunk.text,
                    page=x.chunk.page,
                    section=x.chunk.section,
                    char_start=x.chunk.char_start,
                    char_end=x.chunk.char_end,
                    language=x.chunk.language,
                    status="held" if x.held_reason else "indexed",
                    flag_reason=x.held_reason,
                )
                for x in scanned
            )
            for x in held:
                v = x.verdict
                s.add(
                    GuardVerdict(
                        passage_id=passage_id(doc_id, new_version, x.chunk.ordinal),
                        course_id=course_id,
                        stage="material",
                        safe=False,
                        action="hold",
                        categories=list(getattr(v, "categories", ()) or ()),
                        score=float(getattr(v, "score", 0.0) or 0.0),
                        backend=getattr(v, "backend", "") or "",
                        model=getattr(v, "model", "") or "",
                        error=getattr(v, "error", None),
                    )
                )
            doc = s.get(Document, doc_id)
            old_version, old_hash = doc.version, doc.content_hash
            doc.version = new_version
            doc.title = title or doc.title
            doc.content_hash = upload.digest
            doc.size_bytes = upload.size
            doc.storage_path = upload.digest
            doc.language = _majority([x.chunk.language for x in scanned])
            doc.status = "held" if held else "ready"
            doc.error = None
            s.execute(
                update(Course)
                .where(Course.id == course_id)
                .values(content_version=Course.content_version + 1)
            )
            s.execute(
                delete(Passage).where(Passage.document_id == doc_id, Passage.version == old_version)
            )
        return old_version, old_hash

    def _abandon(
        self, doc_id: int, version: int, previous_status: str | None, course_id: int
    ) -> None:
        """After a failed run: drop its invisible vectors; forget a document that never became
        visible."""
        try:
            self._delete_version(course_id, doc_id, version)
        finally:
            with self.db.session() as s:
                doc = s.get(Document, doc_id)
                if doc is not None and doc.version == 0:
                    s.delete(doc)
                elif doc is not None:
                    doc.status = previous_status or "ready"

    def _retire(self, new: _NewVersion, old_version: int, old_hash: str, digest: str) -> None:
        """After publishing: drop the old version's vectors, and its original once unused."""
        self._delete_version(new.course_id, new.doc_id, old_version)
        if old_hash != digest:
            self.drop_file_if_unused(old_hash)

    def _delete_version(self, course_id: int, doc_id: int, version: int) -> None:
        """Remove the vectors of one version of a document from the course's collection."""
        self.store.delete(
            course_id, where={"$and": [{"document_id": doc_id}, {"version": version}]}
        )

    # ------------------------------------------------------------------ review and removal

    def release_passage(self, passage_id_: str) -> Passage:
        """Make a held passage searchable (the teacher reviewed it)."""
        with self.db.session() as s:
            p = s.get(Passage, passage_id_)
            if p is None or p.status != "held":
                raise IngestError("no_passage", passage=passage_id_)
            doc = s.get(Document, p.document_id)
            meta = {
                "document_id": p.document_id,
                "version": p.version,
                "page": p.page,
                "section": p.section,
                "language": p.language,
                "title": doc.title,
            }
            text, course_id = p.text, p.course_id
        self.store.upsert(
            course_id, [passage_id_], self.embedder.embed_documents([text]), [text], [meta]
        )
        return self._set_review(passage_id_, "indexed")

    def reject_passage(self, passage_id_: str) -> Passage:
        """Keep a held passage out of the index for good."""
        with self.db.session() as s:
            p = s.get(Passage, passage_id_)
            if p is None or p.status != "held":
                raise IngestError("no_passage", passage=passage_id_)
        return self._set_review(passage_id_, "rejected")

    def _set_review(self, passage_id_: str, status: str) -> Passage:
        with self.db.session() as s:
            p = s.get(Passage, passage_id_)
            p.status = status
            s.flush()
            still_held = s.scalar(
                select(func.count())
                .select_from(Passage)
                .where(
                    Passage.document_id == p.document_id,
                    Passage.version == p.version,
                    Passage.status == "held",
                )
            )
            doc = s.get(Document, p.document_id)
            if not still_held and doc.status == "held":
                doc.status = "ready"
            s.execute(
                update(GuardVerdict)
                .where(GuardVerdict.passage_id == passage_id_, GuardVerdict.stage == "material")
                .values(reviewed="false_positive" if status == "indexed" else "confirmed")
            )
            if status == "indexed":
                s.execute(
                    update(Course)
                    .where(Course.id == p.course_id)
                    .values(content_version=Course.content_version + 1)
                )
            return p

    def delete_document(self, document_id: int) -> dict[str, Any]:
        """Remove a document's rows, vectors and stored file."""
        with self.db.session() as s:
            doc = s.get(Document, document_id)
            if doc is None:
                raise IngestError("no_document", document=document_id)
            info = {
                "document_id": doc.id,
                "course_id": doc.course_id,
                "filename": doc.filename,
                "version": doc.version,
            }
            course_id, digest = doc.course_id, doc.content_hash
            ids = list(s.scalars(select(Passage.id).where(Passage.document_id == document_id)))
            if ids:
                s.execute(delete(GuardVerdict).where(GuardVerdict.passage_id.in_(ids)))
            s.delete(doc)
            s.execute(
                update(Course)
                .where(Course.id == course_id)
                .values(content_version=Course.content_version + 1)
            )
        self.store.delete(course_id, where={"document_id": document_id})
        self.drop_file_if_unused(digest)
        return info

    def drop_file_if_unused(self, digest: str, *, ignore_job: int | None = None) -> None:
        """Remove a stored original that no document and no waiting job refers to."""
        from core.models import Job

        with self.db.session() as s:
            used = s.scalar(select(Document.id).where(Document.content_hash == digest)) is not None
            pending = s.execute(
                select(Job.id, Job.payload).where(Job.status.in_(("queued", "running")))
            ).all()
        if not used and not any(
            (p or {}).get("digest") == digest and j != ignore_job for j, p in pending
        ):
            self.files.delete(digest)


# formats whose extracted text is about as long as the file: their size bounds the text at upload
PLAIN_FORMATS = frozenset({"text", "markdown"})


def passage_id(document_id: int, version: int, ordinal: int) -> str:
    """The one id scheme shared by passage rows and Chroma vectors."""
    return f"{document_id}:{version}:{ordinal}"


def vector_metadata(doc_id: int, version: int, title: str, c: Chunk | Passage) -> dict[str, Any]:
    """What a passage's vector carries in the store (a chunk being indexed or a stored passage)."""
    return {
        "document_id": doc_id,
        "version": version,
        "page": c.page,
        "section": c.section,
        "language": c.language,
        "title": title,
        "char_start": c.char_start,
        "char_end": c.char_end,
    }


def _title(filename: str) -> str:
    stem = filename.rsplit(".", 1)[0]
    return stem.replace("_", " ").replace("-", " ").strip().capitalize() or filename


def _majority(values: list[str]) -> str | None:
    return max(set(values), key=values.count) if values else None


def _first_heading(scanned: list[Scanned]) -> str:
    """The top-level heading the document starts under ("" when none): its title when none was
    given."""
    return (scanned[0].chunk.section or "").split(" > ")[0].strip()


def _skipped_pages(scanned: list[Scanned], total_pages: int) -> list[str]:
    """A note for a PDF whose pages were not all text (scanned pages are skipped)."""
    pages_with_text = len({x.chunk.page for x in scanned})
    if pages_with_text >= total_pages:
        return []
    return [
        f"{total_pages - pages_with_text} of {total_pages} pages had no text layer (scanned?) "
        "and were skipped; OCR is not available"
    ]

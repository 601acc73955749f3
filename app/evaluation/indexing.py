"""A fresh temporary instance, and an eval set loaded into one of its courses.

:class:`EvalRun` creates the instance (its own home folder and SQLite database);
:func:`index_eval_set` stores the passages (whole, or split into chunks as ingestion would)
in a new course's database rows and vector store.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.evaluation.sets import EvalPassage, EvalSet

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

Progress = Callable[[str, int, int], None]  # (stage, done, total), for a progress bar


CHUNK_MARK = "#"  # chunk ids are "<passage id>#<n>" when an eval set is indexed in chunks
EVAL_SCHOOL = "Kateder evaluation"  # the school every eval course belongs to


def parent_id(passage_id: str) -> str:
    """The eval passage a stored passage (or chunk of it) comes from."""
    return passage_id.split(CHUNK_MARK, 1)[0]


@dataclass
class EvalRun:
    """A fresh temporary instance with the configured retrieval (or given components)."""

    config: dict[str, Any] = field(default_factory=dict)
    components: dict[str, Any] = field(default_factory=dict)

    def __enter__(self):
        """Create the temporary instance and its services."""
        from app import create_app
        from app.services import get_services

        self._tmp = tempfile.TemporaryDirectory(prefix="kateder-eval-")
        home = Path(self._tmp.name)
        cfg = {
            **self.config,
            "HOME": str(home),
            "DATABASE_URL": self.config.get("DATABASE_URL") or f"sqlite:///{home / 'eval.db'}",
            "SECRET_KEY": "eval",
        }
        self.services = get_services(create_app(cfg, services=dict(self.components)))
        self.services.db.migrate()
        return self.services

    def __exit__(self, *exc) -> None:
        """Remove the temporary instance."""
        self.services.db.dispose()
        self._tmp.cleanup()


def _chunked(
    services, evalset: EvalSet, chunk_tokens: int, overlap_tokens: int
) -> list[EvalPassage]:
    """The eval passages split the way ingestion splits a document (``ingest.split``)."""
    from ingest.loaders import Segment
    from ingest.split import Splitter
    from ingest.tokens import build_tokenize

    splitter = Splitter(
        build_tokenize(services.config, services.embedder), chunk_tokens, overlap_tokens
    )
    out = []
    for p in evalset.passages:
        if CHUNK_MARK in p.id:
            raise ValueError(f"passage id {p.id!r} contains {CHUNK_MARK!r}, reserved for chunk ids")
        for n, c in enumerate(splitter.split([Segment(p.text)], p.language)):
            out.append(EvalPassage(f"{p.id}{CHUNK_MARK}{n}", c.text, p.language, p.id))
    return out


def _create_course(s: Session, code: str, language: str) -> int:
    """A new course ``code`` of the evaluation school (created on first use); its id."""
    from sqlalchemy import select

    from app.services import accounts
    from core.models import School

    school = s.scalar(select(School).where(School.name == EVAL_SCHOOL)) or accounts.create_school(
        s, EVAL_SCHOOL, "SE"
    )
    course = accounts.create_course(s, school, code, f"Evaluation {code}", language)
    s.flush()
    return course.id


def _document_of(passage: EvalPassage) -> str:
    """The group a passage is stored under: one document per group."""
    return passage.group or "material"


def _store_passages(s: Session, course_id: int, passages: Sequence[EvalPassage]) -> dict[str, int]:
    """One ready document per group and one indexed passage row per
    passage; passage id -> document id.

    The course's content version is raised, as after an ingestion.
    """
    from sqlalchemy import update

    from core.models import Course, Document, Passage

    docs: dict[str, int] = {}
    for group in dict.fromkeys(_document_of(p) for p in passages):
        doc = Document(
            course_id=course_id,
            title=group[:300],
            filename=f"{group[:200]}.txt",
            content_hash="eval",
            version=1,
            status="ready",
        )
        s.add(doc)
        s.flush()
        docs[group] = doc.id
    for i, p in enumerate(passages):
        s.add(
            Passage(
                id=p.id,
                document_id=docs[_document_of(p)],
                course_id=course_id,
                version=1,
                ordinal=i,
                text=p.text,
                language=p.language,
                status="indexed",
            )
        )
    s.execute(
        update(Course)
        .where(Course.id == course_id)
        .values(content_version=Course.content_version + 1)
    )
    return {p.id: docs[_document_of(p)] for p in passages}


def _embed_passages(
    services,
    course_id: int,
    passages: Sequence[EvalPassage],
    doc_of: dict[str, int],
    batch: int,
    progress: Progress | None,
) -> None:
    """Embed the passages ``batch`` at a time into the course's vector store."""
    for start in range(0, len(passages), batch):
        chunk = passages[start : start + batch]
        vectors = services.embedder.embed_documents([p.text for p in chunk])
        services.vector_store.upsert(
            course_id,
            [p.id for p in chunk],
            vectors,
            [p.text for p in chunk],
            [{"document_id": doc_of[p.id], "version": 1, "language": p.language} for p in chunk],
        )
        if progress is not None:
            progress("indexing", start + len(chunk), len(passages))


def index_eval_set(
    services,
    evalset: EvalSet,
    code: str = "EVAL",
    batch: int = 64,
    progress: Progress | None = None,
    *,
    chunk_tokens: int = 0,
    overlap_tokens: int = 30,
) -> int:
    """Load the passages into a new course of ``services`` (database + vector store); its id.

    ``chunk_tokens`` > 0: every eval passage becomes one document, split into chunks of that
    many tokens (``overlap_tokens`` overlap) as ingestion would split it; chunk ids are
    ``"<passage id>#<n>"`` and ``run_questions`` ranks their parents. 0: one stored
    passage per eval passage (documents are the passages' groups).
    """
    passages = (
        _chunked(services, evalset, chunk_tokens, overlap_tokens)
        if chunk_tokens > 0
        else evalset.passages
    )
    language = evalset.passages[0].language if evalset.passages else "en"
    with services.db.session() as s:
        course_id = _create_course(s, code, language)
        doc_of = _store_passages(s, course_id, passages)
    if services.config.get("RETRIEVAL_MODE") == "bm25":
        return course_id  # no dense side to fill
    _embed_passages(services, course_id, passages, doc_of, batch, progress)
    return course_id

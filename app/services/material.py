"""Course material for the teacher panel: the document list, and near-duplicate titles at upload.

*Choice (issue 16):* a near-duplicate title is a warning, never a refusal. Two documents
are near-duplicates when their normalised titles are the same, or very similar
(:data:`SIMILARITY`, difflib's ratio) with the same numbers in them, so "Chapter 1" and
"Chapter 2" are not. A file with the same name as an existing document is not a duplicate
at all: the upload becomes that document's next version (ingest/pipeline.py).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Document, Job, Passage
from ingest.jobs import KIND

SIMILARITY = 0.85
ACTIVE_JOBS = ("queued", "running", "cancelling")
_COPY_MARKERS = re.compile(
    r"(\s*\(\d+\)|\s+(copy|kopia|kopi|kopie|copia|final|ny|new|neu|nuovo))+$"
)
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)
_SEPARATORS = re.compile(r"[\s_\-.]+")
_NUMBER = re.compile(r"\d+")


def normalise_title(text: str) -> str:
    """A title (or file name) for comparing: no extension, accents, case, punctuation or
    copy marks.
    """
    stem = text.strip()
    if re.search(r"\.[A-Za-z0-9]{1,5}$", stem):
        stem = stem.rsplit(".", 1)[0]
    folded = "".join(
        c for c in unicodedata.normalize("NFKD", stem) if not unicodedata.combining(c)
    ).casefold()
    words = _COPY_MARKERS.sub(
        "", _SEPARATORS.sub(" ", folded).strip()
    )  # "(1)", " copy": before punctuation goes
    return _NOT_WORD.sub(" ", words).strip()


@dataclass(frozen=True)
class SimilarTitle:
    """An existing document whose title is close to an upload's."""

    document_id: int
    title: str
    filename: str
    same_file: bool  # the upload replaces this document (a new version), it does not duplicate it
    score: float


def _score(a: str, b: str) -> float:
    """1.0 for equal normalised titles, difflib's ratio when the numbers in them agree, else 0."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    if _NUMBER.findall(a) != _NUMBER.findall(b):
        return 0.0
    return difflib.SequenceMatcher(None, a, b).ratio()


def similar_titles(
    session: Session, course_id: int, filename: str, title: str | None = None
) -> list[SimilarTitle]:
    """The course's documents whose title or file name is a near-duplicate of an upload's, closest
    first.
    """
    wanted = normalise_title(title or filename)
    found = []
    for doc in session.scalars(select(Document).where(Document.course_id == course_id)):
        if doc.filename == filename:
            found.append(SimilarTitle(doc.id, doc.title, doc.filename, True, 1.0))
            continue
        score = max(
            _score(wanted, normalise_title(doc.title)),
            _score(wanted, normalise_title(doc.filename)),
        )
        if score >= SIMILARITY:
            found.append(SimilarTitle(doc.id, doc.title, doc.filename, False, round(score, 3)))
    return sorted(found, key=lambda m: (-m.score, m.title))


@dataclass(frozen=True)
class DocumentRow:
    """One row of the material list."""

    id: int
    title: str
    filename: str
    status: str
    error: str | None
    passages: int  # visible (indexed) passages
    version: int


def documents(session: Session, course_id: int) -> list[DocumentRow]:
    """The course's documents by title, with their visible passages."""
    counts: dict[int, int] = {
        document_id: n
        for document_id, n in session.execute(
            select(Passage.document_id, func.count(Passage.id))
            .where(Passage.course_id == course_id, Passage.status == "indexed")
            .group_by(Passage.document_id)
        ).all()
    }
    return [
        DocumentRow(d.id, d.title, d.filename, d.status, d.error, counts.get(d.id, 0), d.version)
        for d in session.scalars(
            select(Document).where(Document.course_id == course_id).order_by(Document.title)
        )
    ]


def active_jobs(session: Session, course_id: int) -> int:
    """Ingestion jobs of the course that have not finished yet."""
    return (
        session.scalar(
            select(func.count(Job.id)).where(
                Job.course_id == course_id, Job.kind == KIND, Job.status.in_(ACTIVE_JOBS)
            )
        )
        or 0
    )

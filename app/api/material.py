"""Course material over JSON (``/api/v1``): upload as a job, job status, documents, review, delete.

Teacher-only (``accounts.can_teach``), except the original of a visible document, which
enrolled students may open from a citation. Thin views: parse, one service call, serialise.
"""

from __future__ import annotations

import io

from flask import Blueprint, g, jsonify, request, send_file
from sqlalchemy import func, select

from app.api import login_required
from app.services import accounts, get_services
from core.models import Course, Document, Job, Passage
from ingest.errors import IngestError, forbidden, not_found
from ingest.jobs import KIND, job_dict

bp = Blueprint("material_api", __name__, url_prefix="/api/v1")


# errors (IngestError for the file itself, NotFound and Forbidden for access) are answered as
# JSON in the caller's language by app/errors.py, like every other KatederError


def _course(code: str, *, teach: bool = True) -> tuple[int, str]:
    """The course's id and language if the current user may manage it (or ask in it)."""
    with get_services().db.session() as s:
        course = s.scalar(select(Course).where(Course.code == code))
        if course is None:
            raise not_found("no_course", course=code)
        allowed = (
            accounts.can_teach(s, g.api_user, course)
            if teach
            else accounts.can_ask(s, g.api_user, course)
        )
        if not allowed or (teach and course.archived_at is not None and request.method != "GET"):
            raise forbidden()  # archived courses are read-only
        return course.id, course.language


def _document(course_id: int, document_id: int) -> Document:
    with get_services().db.session() as s:
        doc = s.get(Document, document_id)
        if doc is None or doc.course_id != course_id:
            raise not_found("no_document", document=document_id)
        return doc


def document_dict(doc: Document, indexed: int, held: int) -> dict:
    """The JSON of one document in the teacher panel."""
    return {
        "id": doc.id,
        "title": doc.title,
        "filename": doc.filename,
        "mime_type": doc.mime_type,
        "version": doc.version,
        "status": doc.status,
        "language": doc.language,
        "size_bytes": doc.size_bytes,
        "passages": indexed,
        "held": held,
        "visible": doc.version > 0,
        "updated_at": doc.updated_at.isoformat() if doc.updated_at else None,
    }


def passage_dict(p: Passage) -> dict:
    """The JSON of one passage with its provenance."""
    return {
        "id": p.id,
        "document_id": p.document_id,
        "version": p.version,
        "ordinal": p.ordinal,
        "text": p.text,
        "page": p.page,
        "section": p.section,
        "char_start": p.char_start,
        "char_end": p.char_end,
        "language": p.language,
        "status": p.status,
        "flag_reason": p.flag_reason,
    }


def _start_thread() -> None:
    """Run queued jobs in a thread of this process (``JOBS_IN_PROCESS``)."""
    get_services().start_job_thread()


@bp.post("/courses/<code>/documents")
@login_required
def upload(code: str):
    """Upload one file (multipart field ``file``, optional ``title``); answer 202 with the job."""
    course_id, _ = _course(code)
    f = request.files.get("file")
    if f is None:
        raise IngestError("no_file")
    data = f.read()
    services = get_services()
    title = (request.form.get("title") or "").strip()[:300] or None
    try:
        job = services.jobs.enqueue(
            course_id, f.filename or "", data, uploaded_by=g.api_user.id, title=title
        )
    except (
        IngestError
    ) as exc:  # a security event for the admin (app/web/admin.py), then the error as usual
        with services.db.session() as s:
            services.audit.record(
                s,
                "upload_rejected",
                user=g.api_user,
                course_id=course_id,
                details={
                    "filename": (f.filename or "")[:200],
                    "size_bytes": len(data),
                    "reason": exc.code,
                    "via": "api",
                },
            )
        raise
    with services.db.session() as s:
        services.audit.record(
            s,
            "upload",
            user=g.api_user,
            course_id=course_id,
            details={
                "job_id": job["id"],
                "filename": job["filename"],
                "size": len(data),
                "via": "api",
            },
        )
    _start_thread()
    return jsonify(job), 202


def _authorise_job(services, job_id: int) -> None:
    """An ingestion job of a course the caller teaches, or ``no_job``
    (not found and forbidden alike).
    """
    with services.db.session() as s:
        job = s.get(Job, job_id)
        course = (
            s.get(Course, job.course_id)
            if job is not None and job.kind == KIND and job.course_id
            else None
        )
        if course is None or not accounts.can_teach(s, g.api_user, course):
            raise not_found("no_job", job=job_id)


@bp.get("/jobs/<int:job_id>")
@login_required
def job_status(job_id: int):
    """Stage, percentage and result of an ingestion job."""
    services = get_services()
    _authorise_job(services, job_id)
    return jsonify(services.jobs.status(job_id))


@bp.post("/jobs/<int:job_id>/cancel")
@login_required
def cancel_job(job_id: int):
    """Cancel an ingestion job: queued ones at once, a running one at
    its next step (202 until it stops).
    """
    services = get_services()
    _authorise_job(services, job_id)
    status = services.jobs.cancel(job_id)
    with services.db.session() as s:
        services.audit.record(
            s,
            "upload_cancelled",
            user=g.api_user,
            course_id=status["course_id"],
            details={"job_id": job_id, "status": status["status"]},
        )
    return jsonify(status), 200 if status["status"] in ("cancelled", "done", "failed") else 202


@bp.get("/courses/<code>/jobs")
@login_required
def list_jobs(code: str):
    """The course's 50 most recent ingestion jobs."""

    course_id, _ = _course(code)
    with get_services().db.session() as s:
        jobs = s.scalars(
            select(Job)
            .where(Job.course_id == course_id, Job.kind == KIND)
            .order_by(Job.id.desc())
            .limit(50)
        ).all()
        return jsonify(jobs=[job_dict(j) for j in jobs])


@bp.get("/courses/<code>/documents")
@login_required
def list_documents(code: str):
    """Documents with status, visible passage count and held passage count."""
    course_id, _ = _course(code)
    with get_services().db.session() as s:
        docs = s.scalars(
            select(Document).where(Document.course_id == course_id).order_by(Document.title)
        ).all()
        counts = s.execute(
            select(Passage.document_id, Passage.status, func.count(Passage.id))
            .join(Document, Document.id == Passage.document_id)
            .where(Passage.course_id == course_id, Passage.version == Document.version)
            .group_by(Passage.document_id, Passage.status)
        ).all()
    by_doc: dict[tuple[int, str], int] = {(d, st): n for d, st, n in counts}
    return jsonify(
        documents=[
            document_dict(d, by_doc.get((d.id, "indexed"), 0), by_doc.get((d.id, "held"), 0))
            for d in docs
        ]
    )


@bp.get("/courses/<code>/documents/<int:document_id>/passages")
@login_required
def list_passages(code: str, document_id: int):
    """The current version's passages (``?status=held`` for the review queue)."""
    course_id, _ = _course(code)
    doc = _document(course_id, document_id)
    status = request.args.get("status")
    with get_services().db.session() as s:
        query = select(Passage).where(Passage.document_id == doc.id, Passage.version == doc.version)
        if status:
            query = query.where(Passage.status == status)
        return jsonify(
            passages=[passage_dict(p) for p in s.scalars(query.order_by(Passage.ordinal))]
        )


@bp.post("/courses/<code>/passages/<passage_id>/<decision>")
@login_required
def review_passage(code: str, passage_id: str, decision: str):
    """Release a held passage (it becomes searchable) or reject it."""
    course_id, _ = _course(code)
    services = get_services()
    with services.db.session() as s:
        p = s.get(Passage, passage_id)
        if p is None or p.course_id != course_id or decision not in ("release", "reject"):
            raise not_found("no_passage", passage=passage_id)
    action = (
        services.ingest.release_passage if decision == "release" else services.ingest.reject_passage
    )
    passage = action(passage_id)
    with services.db.session() as s:
        services.audit.record(
            s,
            f"{decision}_passage",
            user=g.api_user,
            course_id=course_id,
            details={"passage_id": passage_id, "document_id": passage.document_id},
        )
    return jsonify(passage_dict(passage))


@bp.delete("/courses/<code>/documents/<int:document_id>")
@login_required
def delete_document(code: str, document_id: int):
    """Delete a document: its original, its passages and its vectors."""
    course_id, _ = _course(code)
    _document(course_id, document_id)
    services = get_services()
    info = services.ingest.delete_document(document_id)
    with services.db.session() as s:
        services.audit.record(
            s, "delete_document", user=g.api_user, course_id=course_id, details=info
        )
    return jsonify(deleted=info)


@bp.get("/courses/<code>/documents/<int:document_id>/original")
@login_required
def original(code: str, document_id: int):
    """The uploaded original; students may open it once the document is visible to them."""
    with get_services().db.session() as s:
        course = s.scalar(select(Course).where(Course.code == code))
        teach = course is not None and accounts.can_teach(s, g.api_user, course)
    course_id, _ = _course(code, teach=teach)
    doc = _document(course_id, document_id)
    if not teach and doc.version == 0:
        raise not_found("no_document", document=document_id)
    try:
        data = get_services().files.get(doc.storage_path or doc.content_hash)
    except (FileNotFoundError, ValueError):
        raise not_found("no_document", document=document_id) from None
    mimetype = doc.mime_type or "application/octet-stream"
    inline = mimetype in ("application/pdf", "text/html", "text/plain", "text/markdown")
    if mimetype == "text/html":
        from ingest.loaders import decode_text, sanitise_html

        data = sanitise_html(decode_text(data)).encode("utf-8")
    response = send_file(
        io.BytesIO(data),
        mimetype=mimetype if mimetype != "text/markdown" else "text/plain",
        as_attachment=not inline,
        download_name=doc.filename,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    )
    response.headers["Cache-Control"] = "private, max-age=300"
    return response

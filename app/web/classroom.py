"""The student's classroom assistant: pick a course, ask, watch the cited answer stream in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.citations import renumber
from app.params import parse_int
from app.security import roles_required
from app.services import accounts, get_services
from app.services.ask import questions_asked_today
from app.streaming import to_sse
from app.web.access import enrolled_courses, me, student_course
from app.web.rendering import answer_html, document_html, markdown, source_labels
from core.models import Conversation, Course, Document, GuardVerdict, Message, Passage
from guard.policy import crisis_message

bp = Blueprint("classroom", __name__, url_prefix="/classroom")
FEEDBACK = ("up", "down", "report")


@bp.get("/")
@roles_required("student", "teacher")
def index():
    """The courses this user can ask in."""
    with get_services().db.session() as s:
        courses = enrolled_courses(s, me(s))
    return render_template("classroom/index.html", courses=courses)


@bp.post("/join")
@roles_required("student")
def join():
    """Join a course of the student's school with the join code the teacher handed out."""
    code = request.form.get("join_code", "").strip().upper()
    services = get_services()
    with services.db.session() as s:
        user = me(s)
        course = (
            s.scalar(
                select(Course).where(Course.join_code == code, Course.school_id == user.school_id)
            )
            if code
            else None
        )
        if course is None:
            flash(_("No course has that join code. Check the code with your teacher."))
            return redirect(url_for("classroom.index"))
        accounts.enrol(s, user, course)
        services.audit.record(s, "join_course", user=user, course_id=course.id)
        target = course.code
    return redirect(url_for("classroom.course", code=target))


TITLE_CHARS = 40
NEUTRAL_ACTIONS = ("crisis", "care")  # a care or crisis reply: the list never shows the question


def short_title(text: str, limit: int = TITLE_CHARS) -> str:
    """The first words of ``text`` up to ``limit`` characters, cut at a word boundary."""
    words = " ".join(text.split())
    if len(words) <= limit:
        return words
    cut = words[: limit + 1].rsplit(" ", 1)[0] if " " in words[: limit + 1] else words[:limit]
    return cut.rstrip(" ,.;:!?-") + "…"


def conversation_title(s, conv: Conversation, user_id: int) -> str:
    """The student's own title, else a neutral one for a crisis, else
    the first question's first words.
    """
    gdpr = get_services().gdpr
    if conv.title_encrypted is not None:
        own = gdpr.keys.open(s, user_id, conv.title_encrypted)
        if own:
            return own
    msgs = conv.messages
    if any(m.action in NEUTRAL_ACTIONS for m in msgs):
        return _("Conversation")
    first = next((m for m in msgs if m.role == "user"), None)
    text = gdpr.read_text(s, first, user_id) if first is not None else None
    return short_title(text) if text else _("Conversation")


def _conversations(s, user_id: int, course_id: int) -> list[dict]:
    """The user's own conversations in a course (not deleted), newest first, with title and date."""
    rows = s.scalars(
        select(Conversation)
        .where(
            Conversation.user_id == user_id,
            Conversation.course_id == course_id,
            Conversation.deleted_at.is_(None),
        )
        .order_by(Conversation.id.desc())
        .limit(30)
    ).all()
    return [
        {"id": c.id, "title": conversation_title(s, c, user_id), "created_at": c.created_at}
        for c in rows
    ]


def _own_conversation(s, conversation_id: int, course_id: int) -> Conversation:
    """The signed-in user's own, not deleted conversation in a course, else 404."""
    conv = s.get(Conversation, conversation_id)
    if (
        conv is None
        or conv.user_id != current_user.id
        or conv.course_id != course_id
        or conv.deleted_at is not None
    ):
        abort(404)
    return conv


def _left_today(s, course: Course) -> int | None:
    """Questions the student may still ask in the course today (None for teachers)."""
    if current_user.role != "student":
        return None
    return max(
        0, course.daily_question_limit - questions_asked_today(s, current_user.id, course.id)
    )


def _own_messages(s, conversation: Conversation, user_id: int) -> list[dict]:
    """The messages of the user's own conversation, text unsealed for its owner.

    A crisis card is written again from the guard's text: the stored copy had its helpline
    number redacted as a phone number ("[phone]"). An answer is shown as safe HTML with its
    citations numbered in order (older answers may have stored a "2" with no "1").
    """
    gdpr = get_services().gdpr
    course = s.get(Course, conversation.course_id)
    out, question = [], ""
    for m in conversation.messages:
        text = (
            crisis_message(m.language or "en", course.school.country)
            if m.action == "crisis"
            else gdpr.read_text(s, m, user_id)
        )
        item = {
            "id": m.id,
            "role": m.role,
            "action": m.action,
            "citations": m.citations or [],
            "feedback": m.feedback,
            "text": text,
            "language": m.language,
        }
        if m.role == "user":
            question = text or ""
        elif m.action != "crisis":
            item["text"], citations = renumber(text or "", item["citations"])
            item["citations"] = source_labels(citations)
            item["html"] = answer_html(
                item["text"],
                item["citations"],
                question=question,
                language=m.language,
                place=_place(course.code, conversation.id),
            )
        out.append(item)
    return out


def _place(code: str, conversation_id: int | None):
    """Where a quote sits in its document: the document view, scrolled
    to the passage, the sentence marked.
    """

    def url(citation: dict[str, Any], key: str) -> str:
        return url_for(
            "classroom.document",
            code=code,
            document_id=citation["document_id"],
            passage=citation["passage_id"],
            mark=key,
            c=conversation_id,
            _anchor=f"passage-{citation['passage_id']}",
        )

    return url


@bp.get("/<code>")
@bp.get("/<code>/c/<int:conversation_id>")
@roles_required("student", "teacher")
def course(code: str, conversation_id: int | None = None):
    """The chat page of one course, optionally showing one of the user's own conversations."""
    with get_services().db.session() as s:
        c = student_course(s, code)
        messages = []
        if conversation_id is not None:
            messages = _own_messages(
                s, _own_conversation(s, conversation_id, c.id), current_user.id
            )
        left = _left_today(s, c)
        return render_template(
            "classroom/course.html",
            course=c,
            messages=messages,
            conversation_id=conversation_id,
            conversations=_conversations(s, current_user.id, c.id),
            left=left,
        )


@bp.post("/<code>/ask")
@roles_required("student", "teacher")
def ask(code: str):
    """Stream the answer as Server-Sent Events (read by fetch, since EventSource cannot POST)."""
    question = request.form.get("question", "")
    raw = request.form.get("conversation_id", "")
    conversation_id = parse_int(raw) if raw else None
    if raw and conversation_id is None:
        abort(400, description="conversation_id must be a conversation number")
    with get_services().db.session() as s:
        student_course(s, code)
        conv = s.get(Conversation, conversation_id) if conversation_id is not None else None
        if conv is not None and conv.deleted_at is not None:
            abort(
                404
            )  # a deleted conversation takes no more questions (others' are refused in the stream)
    events = _rendered(
        get_services().ask.stream(current_user.id, code, question, conversation_id),
        question=question,
    )
    return Response(
        stream_with_context(
            to_sse(events, extra=lambda result: _after_answer(code, result, question))
        ),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _rendered(events: Iterator[dict[str, Any]], *, question: str) -> Iterator[dict[str, Any]]:
    """The ask events, each ``sentence`` also carrying the answer so far as safe HTML (``html``)."""
    sentences: list[str] = []
    language = None
    try:
        for event in events:
            if event["type"] == "meta":
                language = event.get("language")
            elif event["type"] == "sentence":
                sentences.append(event["text"])
                event = {
                    **event,
                    "html": str(
                        answer_html(" ".join(sentences), question=question, language=language)
                    ),
                }
            yield event
    finally:
        close = getattr(events, "close", None)
        if close is not None:  # a stopped answer stops the model now
            close()


def _after_answer(code: str, result, question: str) -> dict:
    """Added to the stream's ``done`` event: questions left, the list
    title, sources told apart, the answer as HTML.
    """
    conversation_id = result.conversation_id
    with get_services().db.session() as s:
        c = student_course(s, code)
        conv = s.get(Conversation, conversation_id)
        title = conversation_title(s, conv, current_user.id) if conv is not None else None
        citations = source_labels(result.citations)
        html = (
            ""
            if result.action == "crisis"
            else str(
                answer_html(
                    result.answer,
                    citations,
                    question=question,
                    language=result.language,
                    place=_place(c.code, conversation_id),
                )
            )
        )
        return {
            "questions_left": _left_today(s, c),
            "conversation_title": title,
            "citations": citations,
            "answer_html": html,
            "conversation_url": url_for(
                "classroom.course", code=c.code, conversation_id=conversation_id
            ),
        }


@bp.post("/<code>/c/<int:conversation_id>/rename")
@roles_required("student", "teacher")
def rename(code: str, conversation_id: int):
    """The student renames their own conversation (an empty title goes back to the derived one)."""
    title = " ".join(request.form.get("title", "").split())
    if len(title) > TITLE_CHARS * 2:
        abort(400, description=_("A title can be at most %(num)d characters.", num=TITLE_CHARS * 2))
    services = get_services()
    with services.db.session() as s:
        c = student_course(s, code)
        conv = _own_conversation(s, conversation_id, c.id)
        conv.title_encrypted = services.gdpr.keys.seal(s, current_user.id, title) if title else None
        services.audit.record(
            s,
            "rename_conversation",
            user=me(s),
            course_id=c.id,
            details={"conversation_id": conv.id},
        )
        s.flush()
        new_title = conversation_title(s, conv, current_user.id)
    if request.accept_mimetypes.best == "application/json" or request.is_json:
        return jsonify(ok=True, title=new_title)
    return redirect(url_for("classroom.course", code=code, conversation_id=conversation_id))


@bp.post("/<code>/c/<int:conversation_id>/delete")
@roles_required("student", "teacher")
def delete(code: str, conversation_id: int):
    """The student deletes their own conversation: hidden and its text wiped.

    A conversation with a message a guard or the student flagged to the teacher keeps its
    text until the retention schedule removes it, so deleting cannot hide a crisis from the
    review queue; the rows themselves stay so the daily question count cannot be reset by
    deleting.
    """
    services = get_services()
    with services.db.session() as s:
        c = student_course(s, code)
        conv = _own_conversation(s, conversation_id, c.id)
        flagged = (
            s.scalar(
                select(GuardVerdict.id)
                .where(
                    GuardVerdict.message_id.in_([m.id for m in conv.messages]),
                    GuardVerdict.safe.is_(False),
                )
                .limit(1)
            )
            is not None
        )
        wiped = 0
        for m in [] if flagged else conv.messages:
            if m.text is not None or m.text_encrypted is not None:
                m.text, m.text_encrypted, wiped = None, None, wiped + 1
        conv.title_encrypted, conv.deleted_at = None, datetime.now(UTC)
        services.audit.record(
            s,
            "delete_conversation",
            user=me(s),
            course_id=c.id,
            details={
                "conversation_id": conv.id,
                "messages_wiped": wiped,
                "kept_for_review": flagged,
            },
        )
    if request.accept_mimetypes.best == "application/json":
        return jsonify(ok=True)
    flash(_("The conversation was deleted."))
    return redirect(url_for("classroom.course", code=code))


@bp.get("/<code>/passages/<passage_id>")
@roles_required("student", "teacher")
def passage(code: str, passage_id: str):
    """The full text of a cited passage, its document title and page."""
    with get_services().db.session() as s:
        c = student_course(s, code)
        p = s.get(Passage, passage_id)
        if p is None or p.course_id != c.id or p.status != "indexed":
            abort(404)
        return jsonify(
            id=p.id,
            text=p.text,
            html=str(markdown(p.text)),
            page=p.page,
            section=p.section,
            document=p.document.title,
            document_id=p.document_id,
        )


_MARK = re.compile(r"[0-9a-f]{1,16}")


@bp.get("/<code>/documents/<int:document_id>")
@roles_required("student", "teacher")
def document(code: str, document_id: int):
    """A course document as safe HTML, made of its visible passages, the cited one highlighted.

    ``passage`` is the cited passage (the page scrolls to ``#passage-<id>``), ``mark`` a
    quoted sentence's key (``app.web.rendering.quote_key``), ``c`` the conversation to go
    back to. Held or rejected passages are never shown.
    """
    with get_services().db.session() as s:
        c = student_course(s, code)
        doc = s.get(Document, document_id)
        if doc is None or doc.course_id != c.id or not doc.version:
            abort(404)
        rows = s.scalars(
            select(Passage)
            .where(
                Passage.document_id == doc.id,
                Passage.version == doc.version,
                Passage.status == "indexed",
            )
            .order_by(Passage.ordinal)
        ).all()
        passages = [
            {
                "id": p.id,
                "text": p.text,
                "section": p.section,
                "page": p.page,
                "char_start": p.char_start,
                "char_end": p.char_end,
            }
            for p in rows
        ]
        mark = request.args.get("mark", "")
        back = parse_int(request.args.get("c", "")) if request.args.get("c") else None
        own = s.get(Conversation, back) if back is not None else None
        if (
            own is None
            or own.user_id != current_user.id
            or own.course_id != c.id
            or own.deleted_at is not None
        ):
            back = None
        html = document_html(
            passages,
            title=doc.title,
            cited=request.args.get("passage"),
            mark=mark if _MARK.fullmatch(mark) else None,
        )
        return render_template(
            "classroom/document.html",
            course=c,
            document=doc,
            html=html,
            conversation_id=back,
            cited=any(p["id"] == request.args.get("passage") for p in passages),
        )


@bp.post("/messages/<int:message_id>/feedback")
@roles_required("student", "teacher")
def feedback(message_id: int):
    """Thumbs up/down, or report an answer to the teacher (it lands in their review queue)."""
    value = request.form.get("feedback", "")
    services = get_services()
    with services.db.session() as s:
        msg = s.get(Message, message_id)
        if msg is None or msg.role != "assistant" or msg.conversation.user_id != current_user.id:
            abort(404)
        if value not in FEEDBACK:
            abort(400)
        msg.feedback = value
        course_id = msg.conversation.course_id
        if value == "report":
            s.add(
                GuardVerdict(
                    message_id=msg.id,
                    course_id=course_id,
                    stage="report",
                    safe=False,
                    action="report",
                    categories=[],
                    score=1.0,
                    backend="student-report",
                    model="",
                )
            )
        services.audit.record(
            s,
            "feedback",
            user=me(s),
            course_id=course_id,
            details={"message_id": msg.id, "feedback": value},
        )
    return jsonify(ok=True, feedback=value)

"""The student's classroom assistant: pick a course, ask, watch the cited answer stream in."""

from __future__ import annotations

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

from app import get_services
from app.params import parse_int
from app.security import roles_required
from app.services import accounts
from app.services.ask import questions_asked_today
from app.streaming import to_sse
from app.web.access import enrolled_courses, me, student_course
from core.models import Conversation, Course, GuardVerdict, Message, Passage

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
        course = s.scalar(select(Course).where(Course.join_code == code, Course.school_id == user.school_id)) if code else None
        if course is None:
            flash(_("No course has that join code. Check the code with your teacher."))
            return redirect(url_for("classroom.index"))
        accounts.enrol(s, user, course)
        services.audit.record(s, "join_course", user=user, course_id=course.id)
        target = course.code
    return redirect(url_for("classroom.course", code=target))


def _conversations(s, user_id: int, course_id: int) -> list[dict]:
    """The user's own conversations in a course, titled by their first question."""
    gdpr = get_services().gdpr
    rows = s.scalars(
        select(Conversation).where(Conversation.user_id == user_id, Conversation.course_id == course_id).order_by(Conversation.id.desc()).limit(30)
    ).all()
    out = []
    for c in rows:
        first = s.scalar(select(Message).where(Message.conversation_id == c.id, Message.role == "user").order_by(Message.id).limit(1))
        title = gdpr.read_text(s, first, user_id) if first is not None else None
        out.append({"id": c.id, "title": (title or "…")[:60], "created_at": c.created_at})
    return out


def _own_messages(s, conversation: Conversation, user_id: int) -> list[dict]:
    """The messages of the user's own conversation, text unsealed for its owner."""
    gdpr = get_services().gdpr
    return [{"id": m.id, "role": m.role, "text": gdpr.read_text(s, m, user_id), "action": m.action,
             "citations": m.citations or [], "feedback": m.feedback} for m in conversation.messages]


@bp.get("/<code>")
@bp.get("/<code>/c/<int:conversation_id>")
@roles_required("student", "teacher")
def course(code: str, conversation_id: int | None = None):
    """The chat page of one course, optionally showing one of the user's own conversations."""
    with get_services().db.session() as s:
        c = student_course(s, code)
        messages = []
        if conversation_id is not None:
            conv = s.get(Conversation, conversation_id)
            if conv is None or conv.user_id != current_user.id or conv.course_id != c.id:
                abort(404)
            messages = _own_messages(s, conv, current_user.id)
        left = None
        if current_user.role == "student":
            left = max(0, c.daily_question_limit - questions_asked_today(s, current_user.id, c.id))
        return render_template(
            "classroom/course.html", course=c, messages=messages, conversation_id=conversation_id,
            conversations=_conversations(s, current_user.id, c.id), left=left,
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
    events = get_services().ask.stream(current_user.id, code, question, conversation_id)
    return Response(
        stream_with_context(to_sse(events)),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@bp.get("/<code>/passages/<passage_id>")
@roles_required("student", "teacher")
def passage(code: str, passage_id: str):
    """The full text of a cited passage, its document title and page."""
    with get_services().db.session() as s:
        c = student_course(s, code)
        p = s.get(Passage, passage_id)
        if p is None or p.course_id != c.id or p.status != "indexed":
            abort(404)
        return jsonify(id=p.id, text=p.text, page=p.page, section=p.section, document=p.document.title, document_id=p.document_id)


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
            s.add(GuardVerdict(message_id=msg.id, course_id=course_id, stage="report", safe=False, action="report",
                               categories=[], score=1.0, backend="student-report", model=""))
        services.audit.record(s, "feedback", user=me(s), course_id=course_id, details={"message_id": msg.id, "feedback": value})
    return jsonify(ok=True, feedback=value)

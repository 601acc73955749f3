"""The teacher panel: courses, students and login cards, material, policy, review queue, charts."""

from __future__ import annotations

import secrets
from collections import Counter
from datetime import UTC, datetime, timedelta

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import func, select

from app import get_services
from app.params import parse_int
from app.security import roles_required
from app.services import accounts
from app.services import courses as course_service
from app.web.access import me, teachable_course_ids, teacher_course
from core.language import LANGUAGES
from core.models import Conversation, Course, Document, GuardVerdict, Message, Passage, User
from guard.pii import redact
from guard.policy import AGE_BANDS, CATEGORY_ACTIONS, CoursePolicy
from guard.taxonomy import CATEGORIES, SELF_HARM

bp = Blueprint("teacher", __name__, url_prefix="/teach")
TEACHERS = ("teacher", "admin")
FLAGGED = ("block", "crisis", "care", "alert", "report")
MAX_CARDS = 40
CARDS_KEY = "login_cards"  # the one-time passwords, kept in the session until shown once


def _severity(v: GuardVerdict, policy: CoursePolicy) -> int:
    """Sort key: self-harm first, then alerts, blocks, reports, care."""
    categories = v.categories or []
    if v.action == "crisis" or SELF_HARM in categories:
        return 0
    if v.action != "report" and policy.alerts_for(categories):
        return 1
    return {"block": 2, "report": 3, "care": 4}.get(v.action, 5)


def review_queue(s, course_ids: list[int], *, include_reviewed: bool = False) -> list[dict]:
    """Flagged questions and answers and reported answers, most critical first."""
    if not course_ids:
        return []
    policies = {c.id: CoursePolicy.from_dict(c.policy) for c in s.scalars(select(Course).where(Course.id.in_(course_ids)))}
    q = select(GuardVerdict).where(GuardVerdict.course_id.in_(course_ids), GuardVerdict.action.in_(FLAGGED), GuardVerdict.message_id.is_not(None))
    if not include_reviewed:
        q = q.where(GuardVerdict.reviewed.is_(None))
    rows = s.scalars(q.order_by(GuardVerdict.id.desc()).limit(200)).all()
    ranked = sorted(((_severity(v, policies[v.course_id]), v) for v in rows), key=lambda pair: (pair[0], -pair[1].id))
    items = []
    for severity, v in ranked:
        msg = v.message
        conv = msg.conversation
        author = s.get(User, conv.user_id)
        items.append({
            "id": v.id, "stage": v.stage, "action": "alert" if severity == 1 else v.action, "categories": v.categories or [],
            "score": v.score, "critical": severity == 0, "created_at": v.created_at, "role": msg.role,
            "student": author.username if author else "?", "course_id": v.course_id, "reviewed": v.reviewed,
            "conversation_id": conv.id, "message_id": msg.id,
        })
    return items


PREVIEW_CHARS = 120


def with_previews(s, items: list[dict]) -> list[dict]:
    """Each item with ``preview``: the flagged message itself, PII-redacted and cut at a word (never the conversation)."""
    gdpr = get_services().gdpr
    for item in items:
        msg = s.get(Message, item["message_id"])
        text = gdpr.read_text(s, msg) if msg is not None else None
        if not text:
            item["preview"] = None
            continue
        clean = " ".join(redact(text)[0].split())
        item["preview"] = clean if len(clean) <= PREVIEW_CHARS else clean[:PREVIEW_CHARS].rsplit(" ", 1)[0] + " …"
    return items


def by_student(items: list[dict]) -> list[tuple[str, list[dict]]]:
    """Items grouped per student, the student with the most critical item first (the queue's order)."""
    groups: dict[str, list[dict]] = {}
    for item in items:
        groups.setdefault(item["student"], []).append(item)
    return list(groups.items())


@bp.get("/")
@roles_required(*TEACHERS)
def index():
    """The teacher's courses with join codes and unreviewed alerts."""
    with get_services().db.session() as s:
        ids = teachable_course_ids(s, me(s))
        courses = s.scalars(select(Course).where(Course.id.in_(ids)).order_by(Course.title)).all() if ids else []
        queue = review_queue(s, ids)
        counts = Counter(item["course_id"] for item in queue)
        critical = Counter(item["course_id"] for item in queue if item["critical"])
        return render_template("teacher/index.html", courses=courses, counts=counts, critical=critical)


def writable_course(s, code: str) -> Course:
    """A course the teacher teaches that is not archived (archived courses are read-only): 409 otherwise."""
    c = teacher_course(s, code)
    if c.archived_at is not None:
        abort(409)
    return c


def _course_form() -> dict[str, str]:
    form = request.form
    return {key: form.get(key, "").strip() for key in ("code", "title", "language", "age_band", "country")}


@bp.get("/courses/new")
@roles_required(*TEACHERS)
def new_course():
    """The form for a new course (or a copy of ``?from=CODE``)."""
    with get_services().db.session() as s:
        source = teacher_course(s, request.args["from"]) if request.args.get("from") else None
        values = {"code": "", "title": "", "language": source.language if source else me(s).language,
                  "age_band": "13-15", "country": me(s).school.country}
        return render_template("teacher/course_new.html", source=source, values=values, languages=LANGUAGES,
                               age_bands=AGE_BANDS, countries=course_service.COUNTRIES, error=None)


@bp.post("/courses")
@roles_required(*TEACHERS)
def create_course():
    """Create (or copy) a course; the teacher is enrolled in it and lands on its material page."""
    values = _course_form()
    services = get_services()
    with services.db.session() as s:
        teacher = me(s)
        source = teacher_course(s, request.form["source"]) if request.form.get("source") else None
        try:
            if source is not None:
                c = course_service.copy_course(s, source, code=values["code"], title=values["title"], teacher=teacher)
            else:
                c = course_service.new_course(s, school=teacher.school, teacher=teacher, **values)
        except accounts.AccountError as exc:
            s.rollback()
            return render_template("teacher/course_new.html", source=source, values=values, languages=LANGUAGES,
                                   age_bands=AGE_BANDS, countries=course_service.COUNTRIES, error=str(exc)), 400
        services.audit.record(s, "course_created", user=teacher, course_id=c.id,
                              details={"code": c.code, "copied_from": source.code if source else None, "via": "web"})
        code = c.code
    flash(_("The course was created."))
    return redirect(url_for("teacher.course", code=code))


@bp.post("/<code>/archive")
@roles_required(*TEACHERS)
def archive(code: str):
    """Archive (``decision=archive``) or restore (``decision=restore``) a course."""
    decision = request.form.get("decision")
    services = get_services()
    with services.db.session() as s:
        c = teacher_course(s, code)  # authorise before validating
        if decision not in ("archive", "restore"):
            abort(400)
        changed = (course_service.archive_course if decision == "archive" else course_service.restore_course)(c)
        if changed:
            services.audit.record(s, f"course_{decision}d", user=me(s), course_id=c.id, details={"code": c.code})
    flash(_("The course was archived. Students no longer see it.") if decision == "archive" else _("The course was restored."))
    return redirect(url_for("teacher.index"))


@bp.get("/alerts")
@roles_required(*TEACHERS)
def alerts():
    """Unreviewed critical alerts per course, polled by the teacher's open pages."""
    with get_services().db.session() as s:
        ids = teachable_course_ids(s, me(s))
        critical = Counter(item["course_id"] for item in review_queue(s, ids) if item["critical"])
        codes = dict(s.execute(select(Course.id, Course.code).where(Course.id.in_(ids))).all()) if ids else {}
    courses = [{"code": codes[cid], "critical": n, "url": url_for("teacher.review", code=codes[cid])} for cid, n in critical.items()]
    return jsonify(critical=sum(critical.values()), courses=courses)


@bp.get("/<code>")
@roles_required(*TEACHERS)
def course(code: str):
    """Material: upload with progress bars, status, held passages."""
    with get_services().db.session() as s:
        c = teacher_course(s, code)
        documents = s.scalars(select(Document).where(Document.course_id == c.id).order_by(Document.title)).all()
        held = s.scalars(select(Passage).where(Passage.course_id == c.id, Passage.status == "held").order_by(Passage.id)).all()
        counts = dict(s.execute(
            select(Passage.document_id, func.count(Passage.id)).where(Passage.course_id == c.id, Passage.status == "indexed").group_by(Passage.document_id)
        ).all())
        critical = sum(1 for item in review_queue(s, [c.id]) if item["critical"])
        return render_template("teacher/material.html", course=c, documents=documents, held=held, counts=counts, critical=critical, tab="material")


@bp.post("/<code>/passages/<passage_id>")
@roles_required(*TEACHERS)
def passage(code: str, passage_id: str):
    """Release a held passage (it becomes searchable) or reject it."""
    from ingest.errors import IngestError

    services = get_services()
    with services.db.session() as s:
        c = writable_course(s, code)
        decision = request.form.get("decision")
        if decision not in ("release", "reject"):
            abort(400)
        p = s.get(Passage, passage_id)
        if p is None or p.course_id != c.id or p.status != "held":
            abort(404)
        actor = me(s)
    try:
        (services.ingest.release_passage if decision == "release" else services.ingest.reject_passage)(passage_id)
    except IngestError:
        abort(404)
    with services.db.session() as s:
        services.audit.record(s, f"{decision}_passage", user=actor, course_id=c.id, details={"passage_id": passage_id})
    flash(_("The passage was released.") if decision == "release" else _("The passage was rejected."))
    return redirect(url_for("teacher.course", code=code))


@bp.get("/<code>/students")
@roles_required(*TEACHERS)
def students(code: str):
    """The course's students (pseudonymous usernames)."""
    with get_services().db.session() as s:
        c = teacher_course(s, code)
        people = [e.user for e in c.enrolments if e.user.role == "student"]
        return render_template("teacher/students.html", course=c, students=sorted(people, key=lambda u: u.username), tab="students")


@bp.post("/<code>/students")
@roles_required(*TEACHERS)
def create_students(code: str):
    """Create pseudonymous student accounts and show their printable login cards once."""
    raw = request.form.get("count", "")
    services = get_services()
    cards = []
    with services.db.session() as s:
        c = writable_course(s, code)
        count = parse_int(raw, low=1, high=MAX_CARDS)
        if count is None:
            abort(400)
        school = c.school
        for _i in range(count):
            username = f"{c.code.lower()}-{secrets.token_hex(3)}"
            password = _new_password()
            user = accounts.create_user(s, school, username, password, "student", language=c.language)
            accounts.enrol(s, user, c)
            cards.append({"username": username, "password": password})
        services.audit.record(s, "students_created", user=me(s), course_id=c.id, details={"count": len(cards)})
    return _show_cards_once(code, cards)


def _new_password() -> str:
    return "-".join(secrets.token_hex(2) for _j in range(3))


def _show_cards_once(code: str, cards: list[dict]):
    """Post/Redirect/Get: the cards wait in the session and the GET page shows them once."""
    session[CARDS_KEY] = {"course": code, "cards": cards}
    return redirect(url_for("teacher.cards", code=code))


@bp.get("/<code>/cards")
@roles_required(*TEACHERS)
def cards(code: str):
    """The login cards just made, once: a reload shows that they were already shown and creates nothing."""
    pending = session.pop(CARDS_KEY, None)
    with get_services().db.session() as s:
        c = teacher_course(s, code)
        shown = pending["cards"] if pending and pending.get("course") == code else []
        return render_template("teacher/cards.html", course=c, cards=shown, login_url=url_for("auth.login", _external=True))


def _course_student(s, c: Course, username: str) -> User:
    """A student of this course, or 404."""
    user = next((e.user for e in c.enrolments if e.user.role == "student" and e.user.username == username), None)
    if user is None:
        abort(404)
    return user


@bp.post("/<code>/students/<username>/password")
@roles_required(*TEACHERS)
def reset_password(code: str, username: str):
    """A new password for one student: the old one and all their sessions end; a new login card is shown once."""
    services = get_services()
    password = _new_password()
    with services.db.session() as s:
        c = writable_course(s, code)
        student = _course_student(s, c, username)
        result = accounts.change_password(s, student, password, accounts.Throttle(pepper=services.audit.pseudonymizer.key))
        services.audit.record(s, "password_changed", user=student, course_id=c.id, details={"by": "teacher", **result})
    return _show_cards_once(code, [{"username": username, "password": password}])


@bp.post("/<code>/students/<username>/remove")
@roles_required(*TEACHERS)
def remove_student(code: str, username: str):
    """Remove a student: the GDPR erasure (account, conversations, keys); the form needs the typed username."""
    services = get_services()
    with services.db.session() as s:
        c = writable_course(s, code)
        student = _course_student(s, c, username)
        if request.form.get("confirm", "").strip() != username:
            flash(_("Type the student's username to confirm the removal."))
            return redirect(url_for("teacher.students", code=code))
        student_id, course_id = student.id, c.id
    receipt = services.gdpr.erase_subject(student_id, handled_by="teacher", queue_compaction=True)
    with services.db.session() as s:
        services.audit.record(s, "student_removed", user=me(s), course_id=course_id, details={"subject": receipt["subject"]})
    flash(_("The student was removed and their data erased."))
    return redirect(url_for("teacher.students", code=code))


@bp.get("/<code>/policy")
@roles_required(*TEACHERS)
def policy(code: str):
    """The course's moderation policy form."""
    with get_services().db.session() as s:
        c = teacher_course(s, code)
        return render_template("teacher/policy.html", course=c, policy=CoursePolicy.from_dict(c.policy).to_dict(),
                               age_bands=AGE_BANDS, actions=CATEGORY_ACTIONS, categories=CATEGORIES, tab="policy")


@bp.post("/<code>/policy")
@roles_required(*TEACHERS)
def save_policy(code: str):
    """Save age band, action per category, extra categories and the daily question limit."""
    form = request.form
    limit = form.get("daily_question_limit", "")
    with get_services().db.session() as s:
        writable_course(s, code)  # authorise before validating
    daily_limit = parse_int(limit, low=1, high=1000)
    if form.get("age_band") not in AGE_BANDS or daily_limit is None:
        abort(400)
    actions = {code_: form.get(f"action_{code_}") for code_ in CATEGORIES if form.get(f"action_{code_}") in CATEGORY_ACTIONS}
    extra = []
    for i in range(3):
        label = form.get(f"extra_label_{i}", "").strip()
        keywords = [k.strip() for k in form.get(f"extra_keywords_{i}", "").split(",") if k.strip()]
        if label and keywords:
            extra.append({"key": f"extra{i}", "label": label[:80], "keywords": [_literal(k) for k in keywords][:20],
                          "action": form.get(f"extra_action_{i}", "block")})
    services = get_services()
    with services.db.session() as s:
        c = teacher_course(s, code)
        old = CoursePolicy.from_dict(c.policy).to_dict()
        new = CoursePolicy.from_dict({**old, "age_band": form["age_band"], "actions": actions, "extra_categories": extra,
                                      "country": form.get("country") or None}).to_dict()
        c.policy = new
        c.daily_question_limit = daily_limit
        services.audit.record(s, "policy_changed", user=me(s), course_id=c.id, details={"policy": new, "daily_question_limit": daily_limit})
    flash(_("The policy was saved."))
    return redirect(url_for("teacher.policy", code=code))


def _literal(keyword: str) -> str:
    """Teachers type words, not regular expressions."""
    import re

    return re.escape(keyword)


@bp.get("/<code>/review")
@roles_required(*TEACHERS)
def review(code: str):
    """Flagged questions and answers, self-harm first."""
    with get_services().db.session() as s:
        c = teacher_course(s, code)
        items = with_previews(s, review_queue(s, [c.id]))
        return render_template("teacher/review.html", course=c, items=items, groups=by_student(items), tab="review")


@bp.get("/<code>/review/counts")
@roles_required(*TEACHERS)
def review_counts(code: str):
    """The queue's counts (no text), polled by the open review page to update itself live."""
    with get_services().db.session() as s:
        c = teacher_course(s, code)
        items = review_queue(s, [c.id])
    total, critical = len(items), sum(1 for item in items if item["critical"])
    students = len({item["student"] for item in items})
    text = ngettext("%(num)d item to review", "%(num)d items to review", total) + " · " + \
        ngettext("%(num)d student", "%(num)d students", students)
    return jsonify(total=total, critical=critical, students=students, text=text)


@bp.post("/<code>/review/<int:verdict_id>")
@roles_required(*TEACHERS)
def mark(code: str, verdict_id: int):
    """Mark a flagged item as a false positive or confirm it."""
    decision = request.form.get("decision")
    services = get_services()
    with services.db.session() as s:
        c = teacher_course(s, code)
        v = s.get(GuardVerdict, verdict_id)
        if v is None or v.course_id != c.id:
            abort(404)
        if decision not in ("false_positive", "confirmed"):
            abort(400)
        v.reviewed = decision
        services.audit.record(s, "review", user=me(s), course_id=c.id, details={"verdict_id": v.id, "decision": decision})
    flash(_("Marked as a false positive.") if decision == "false_positive" else _("Confirmed."))
    return redirect(url_for("teacher.review", code=code))


@bp.post("/<code>/conversations/<int:conversation_id>")
@roles_required(*TEACHERS)
def open_conversation(code: str, conversation_id: int):
    """Read a student's conversation: only with a written reason, which is logged first."""
    from app.services.gdpr import GdprError

    services = get_services()
    with services.db.session() as s:
        c = teacher_course(s, code)
        conv = s.get(Conversation, conversation_id)
        if conv is None or conv.course_id != c.id:
            abort(404)
        student = s.get(User, conv.user_id)
    try:
        opened = services.gdpr.open_conversation(current_user.id, conversation_id, request.form.get("reason", ""), current_user.language)
    except GdprError as exc:
        flash(exc.message)
        return redirect(url_for("teacher.review", code=code))
    return render_template("teacher/conversation.html", course=c, opened=opened, student=student.username if student else "?", tab="review")


def usage(s, course_id: int, days: int = 14) -> dict:
    """Questions per day and moderation actions over the last ``days`` days."""
    since = datetime.now(UTC) - timedelta(days=days - 1)
    start = since.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = s.execute(
        select(Message.created_at, Message.action)
        .join(Conversation, Message.conversation_id == Conversation.id)
        .where(Conversation.course_id == course_id, Message.role == "user", Message.created_at >= start)
    ).all()
    per_day = Counter()
    actions = Counter()
    for created, action in rows:
        created = created if created.tzinfo else created.replace(tzinfo=UTC)
        per_day[created.date()] += 1
        actions[action] += 1
    series = [(start.date() + timedelta(days=i), per_day.get(start.date() + timedelta(days=i), 0)) for i in range(days)]
    return {"days": series, "max_day": max([n for _, n in series] + [1]), "actions": dict(actions),
            "max_action": max(list(actions.values()) + [1]), "total": len(rows)}


@bp.get("/<code>/usage")
@roles_required(*TEACHERS)
def stats(code: str):
    """Usage and moderation charts (server-side SVG)."""
    with get_services().db.session() as s:
        c = teacher_course(s, code)
        return render_template("teacher/usage.html", course=c, data=usage(s, c.id), tab="usage")

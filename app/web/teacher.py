"""The teacher panel: courses, students and login cards, material, policy, review queue, charts."""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import asdict
from datetime import timedelta

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
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from app import get_services
from app.params import parse_int
from app.security import roles_required
from app.services import accounts, material, usage
from app.services import alerts as alert_service
from app.services import courses as course_service
from app.services.review import by_student, review_queue, with_previews
from app.web.access import me, teachable_course_ids, teacher_course
from app.web.filters import ACTION_LABELS, STATUS_LABELS
from core.language import LANGUAGES
from core.models import Conversation, Course, GuardVerdict, Passage, User
from guard.policy import AGE_BANDS, CATEGORY_ACTIONS, CoursePolicy, age_presets, with_preset
from guard.taxonomy import CATEGORIES, SELF_HARM, plain_categories

bp = Blueprint("teacher", __name__, url_prefix="/teach")
TEACHERS = ("teacher", "admin")
MAX_CARDS = 40
CARDS_KEY = "login_cards"  # the one-time passwords, kept in the session until shown once
# the problems of app/services/courses.py (CourseError.problem) and app/services/alerts.py, in the user's language
COURSE_ERRORS = {
    "code": _l("The course code must have 2-40 characters: letters, digits, - or _."),
    "title": _l("The course name must have 1-200 characters."),
    "language": _l("Unknown language “%(value)s”; choose one of %(choices)s."),
    "age_band": _l("Unknown age band “%(value)s”; choose one of %(choices)s."),
    "country": _l("Unknown country “%(value)s”; choose one of %(choices)s."),
    "taken": _l("The course code “%(value)s” is taken; choose another one."),
}
ALERT_ERRORS = {
    "address": _l("Enter one e-mail address, like name@school.example."),
    "no_address": _l("E-mail alerts need a recipient address."),
}
# why a test e-mail was not sent (app/notify.py: NotifyError.code), for the school's admin in plain words
SMTP_ERRORS = {
    "no_server": _l(
        "This Kateder has no mail server set up, so no e-mail can be sent. Ask the operator to set one (SMTP_HOST)."
    ),
    "config": _l(
        "The mail settings of this Kateder contradict each other (a login without encryption), so nothing was sent. Ask the operator to check them."
    ),
    "connect": _l(
        "Kateder could not reach the mail server. Nothing was sent. Try again later, or ask the operator to check the mail server's address and port."
    ),
    "no_starttls": _l(
        "The mail server does not offer encryption (STARTTLS), and this Kateder only sends encrypted e-mail, so nothing was sent. Ask the operator to check the mail server."
    ),
    "tls": _l(
        "The encrypted connection to the mail server failed (for example, its certificate could not be verified), so nothing was sent. Ask the operator to check the mail server's certificate."
    ),
    "no_auth": _l(
        "The mail server does not accept the sign-in this Kateder is set up with, so nothing was sent. Ask the operator to check the mail settings."
    ),
    "login": _l(
        "The mail server refused the user name or password, so nothing was sent. Ask the operator to check them."
    ),
    "refused": _l(
        "The mail server refused the sender or the recipient address. Check the address, or ask the operator."
    ),
    "smtp": _l("The mail server did not accept the e-mail. Try again later, or ask the operator."),
}
ACTION_HELP = {
    "allow": _l("Answered from the material as usual. Nothing is flagged to you."),
    "care": _l(
        "Answered from the material, and the question appears in your review queue so you can follow up."
    ),
    "block": _l(
        "The student gets a kind refusal that suggests talking to an adult they trust. It appears in your review queue."
    ),
    "alert": _l("Refused like “Block”, and shown as an alert near the top of your review queue."),
}


@bp.get("/")
@roles_required(*TEACHERS)
def index():
    """The teacher's courses with join codes and unreviewed alerts."""
    with get_services().db.session() as s:
        ids = teachable_course_ids(s, me(s))
        courses = (
            s.scalars(select(Course).where(Course.id.in_(ids)).order_by(Course.title)).all()
            if ids
            else []
        )
        queue = review_queue(s, ids)
        counts = Counter(item["course_id"] for item in queue)
        critical = Counter(item["course_id"] for item in queue if item["critical"])
        return render_template(
            "teacher/index.html", courses=courses, counts=counts, critical=critical
        )


def writable_course(s, code: str) -> Course:
    """A course the teacher teaches that is not archived (archived courses are read-only): 409 otherwise."""
    c = teacher_course(s, code)
    if c.archived_at is not None:
        abort(409)
    return c


def _course_form() -> dict[str, str]:
    form = request.form
    return {
        key: form.get(key, "").strip()
        for key in ("code", "title", "language", "age_band", "country")
    }


@bp.get("/courses/new")
@roles_required(*TEACHERS)
def new_course():
    """The form for a new course (or a copy of ``?from=CODE``)."""
    with get_services().db.session() as s:
        source = teacher_course(s, request.args["from"]) if request.args.get("from") else None
        values = {
            "code": "",
            "title": "",
            "language": source.language if source else me(s).language,
            "age_band": "13-15",
            "country": me(s).school.country,
        }
        return render_template(
            "teacher/course_new.html",
            source=source,
            values=values,
            languages=LANGUAGES,
            age_bands=AGE_BANDS,
            countries=course_service.COUNTRIES,
            error=None,
        )


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
                c = course_service.copy_course(
                    s, source, code=values["code"], title=values["title"], teacher=teacher
                )
            else:
                c = course_service.new_course(s, school=teacher.school, teacher=teacher, **values)
        except accounts.AccountError as exc:
            s.rollback()
            return render_template(
                "teacher/course_new.html",
                source=source,
                values=values,
                languages=LANGUAGES,
                age_bands=AGE_BANDS,
                countries=course_service.COUNTRIES,
                error=_course_error(exc),
            ), 400
        services.audit.record(
            s,
            "course_created",
            user=teacher,
            course_id=c.id,
            details={"code": c.code, "copied_from": source.code if source else None, "via": "web"},
        )
        code = c.code
    flash(_("The course was created."))
    return redirect(url_for("teacher.course", code=code))


def _course_error(exc: accounts.AccountError) -> str:
    """The problem in the user's language (a :class:`CourseError`), else the service's own text."""
    if isinstance(exc, course_service.CourseError) and exc.problem in COURSE_ERRORS:
        return str(COURSE_ERRORS[exc.problem]) % exc.params
    return str(exc)


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
        changed = (
            course_service.archive_course
            if decision == "archive"
            else course_service.restore_course
        )(c)
        if changed:
            services.audit.record(
                s, f"course_{decision}d", user=me(s), course_id=c.id, details={"code": c.code}
            )
    flash(
        _("The course was archived. Students no longer see it.")
        if decision == "archive"
        else _("The course was restored.")
    )
    return redirect(url_for("teacher.index"))


@bp.get("/alerts")
@roles_required(*TEACHERS)
def alerts():
    """Unreviewed critical alerts per course, polled by the teacher's open pages."""
    with get_services().db.session() as s:
        ids = teachable_course_ids(s, me(s))
        critical = Counter(item["course_id"] for item in review_queue(s, ids) if item["critical"])
        codes = (
            dict(s.execute(select(Course.id, Course.code).where(Course.id.in_(ids))).all())
            if ids
            else {}
        )
    courses = [
        {"code": codes[cid], "critical": n, "url": url_for("teacher.review", code=codes[cid])}
        for cid, n in critical.items()
    ]
    return jsonify(critical=sum(critical.values()), courses=courses)


@bp.get("/<code>")
@roles_required(*TEACHERS)
def course(code: str):
    """Material: upload with progress bars, status, held passages; the list refreshes itself (static/teacher.js)."""
    with get_services().db.session() as s:
        c = teacher_course(s, code)
        held = s.scalars(
            select(Passage)
            .where(Passage.course_id == c.id, Passage.status == "held")
            .order_by(Passage.id)
        ).all()
        critical = sum(1 for item in review_queue(s, [c.id]) if item["critical"])
        return render_template(
            "teacher/material.html",
            course=c,
            documents=material.documents(s, c.id),
            held=held,
            active=material.active_jobs(s, c.id),
            critical=critical,
            tab="material",
        )


@bp.get("/<code>/material/documents")
@roles_required(*TEACHERS)
def material_documents(code: str):
    """The material list as JSON with translated statuses, and how many uploads are still running."""
    with get_services().db.session() as s:
        c = teacher_course(s, code)
        rows, active = material.documents(s, c.id), material.active_jobs(s, c.id)
    return jsonify(
        active=active,
        documents=[
            {**asdict(r), "status_label": str(STATUS_LABELS.get(r.status, r.status))} for r in rows
        ],
    )


@bp.get("/<code>/material/similar")
@roles_required(*TEACHERS)
def similar_titles(code: str):
    """Documents of the course whose title is close to ``?name=`` (a file about to be uploaded): warnings, never a refusal."""
    name = request.args.get("name", "").strip()[:300]
    with get_services().db.session() as s:
        c = teacher_course(s, code)
        matches = material.similar_titles(s, c.id, name) if name else []
    warnings = [
        _(
            "“%(name)s” replaces the current version of “%(title)s” (same file name).",
            name=name,
            title=m.title,
        )
        if m.same_file
        else _(
            "“%(name)s” looks like “%(title)s” (%(filename)s), already in this course. It will be added as a separate "
            "document; to replace that one, upload a file with the same name.",
            name=name,
            title=m.title,
            filename=m.filename,
        )
        for m in matches
    ]
    return jsonify(name=name, matches=[asdict(m) for m in matches], warnings=warnings)


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
        (
            services.ingest.release_passage
            if decision == "release"
            else services.ingest.reject_passage
        )(passage_id)
    except IngestError:
        abort(404)
    with services.db.session() as s:
        services.audit.record(
            s, f"{decision}_passage", user=actor, course_id=c.id, details={"passage_id": passage_id}
        )
    flash(
        _("The passage was released.") if decision == "release" else _("The passage was rejected.")
    )
    return redirect(url_for("teacher.course", code=code))


@bp.get("/<code>/students")
@roles_required(*TEACHERS)
def students(code: str):
    """The course's students (pseudonymous usernames)."""
    with get_services().db.session() as s:
        c = teacher_course(s, code)
        people = [e.user for e in c.enrolments if e.user.role == "student"]
        return render_template(
            "teacher/students.html",
            course=c,
            students=sorted(people, key=lambda u: u.username),
            tab="students",
        )


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
            user = accounts.create_user(
                s, school, username, password, "student", language=c.language
            )
            accounts.enrol(s, user, c)
            cards.append({"username": username, "password": password})
        services.audit.record(
            s, "students_created", user=me(s), course_id=c.id, details={"count": len(cards)}
        )
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
        return render_template(
            "teacher/cards.html",
            course=c,
            cards=shown,
            login_url=url_for("auth.login", _external=True),
        )


def _course_student(s, c: Course, username: str) -> User:
    """A student of this course, or 404."""
    user = next(
        (e.user for e in c.enrolments if e.user.role == "student" and e.user.username == username),
        None,
    )
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
        result = accounts.change_password(
            s, student, password, accounts.Throttle(pepper=services.audit.pseudonymizer.key)
        )
        services.audit.record(
            s, "password_changed", user=student, course_id=c.id, details={"by": "teacher", **result}
        )
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
        services.audit.record(
            s,
            "student_removed",
            user=me(s),
            course_id=course_id,
            details={"subject": receipt["subject"]},
        )
    flash(_("The student was removed and their data erased."))
    return redirect(url_for("teacher.students", code=code))


@bp.get("/<code>/policy")
@roles_required(*TEACHERS)
def policy(code: str):
    """The course's moderation policy form; ``?preset=<age band>`` fills it with that preset and lists the changes (unsaved)."""
    band = request.args.get("preset") or None
    with get_services().db.session() as s:
        c = teacher_course(s, code)  # authorise before validating
        if band is not None and band not in AGE_BANDS:
            abort(400)
        current = CoursePolicy.from_dict(c.policy)
        shown, limit = current.to_dict(), c.daily_question_limit
        if band is not None:
            shown, limit = (
                with_preset(current, band).to_dict(),
                age_presets()[band]["daily_question_limit"],
            )
        plain = plain_categories(str(get_locale() or "en"))
        changes = (
            policy_changes(current.to_dict(), c.daily_question_limit, shown, limit, plain)
            if band
            else []
        )
        return render_template(
            "teacher/policy.html",
            course=c,
            policy=shown,
            daily_limit=limit,
            preset=band,
            changes=changes,
            changed={change["field"] for change in changes},
            plain=plain,
            action_help=ACTION_HELP,
            age_bands=AGE_BANDS,
            actions=CATEGORY_ACTIONS,
            categories=CATEGORIES,
            tab="policy",
        )


def policy_changes(
    old: dict, old_limit: int, new: dict, new_limit: int, plain: dict
) -> list[dict[str, str]]:
    """What applying a preset would change: ``field`` (the form field), ``label``, ``old`` and ``new``, in form order."""
    changes = []
    if old["age_band"] != new["age_band"]:
        changes.append(
            {
                "field": "age_band",
                "label": _("Age band"),
                "old": _("%(band)s years", band=old["age_band"]),
                "new": _("%(band)s years", band=new["age_band"]),
            }
        )
    if old_limit != new_limit:
        changes.append(
            {
                "field": "daily_question_limit",
                "label": _("Questions per student per day"),
                "old": str(old_limit),
                "new": str(new_limit),
            }
        )
    for code_ in CATEGORIES:
        before, after = old["actions"].get(code_), new["actions"].get(code_)
        if code_ != SELF_HARM and before != after:
            changes.append(
                {
                    "field": f"action_{code_}",
                    "label": plain[code_].name,
                    "old": str(ACTION_LABELS.get(before, before)),
                    "new": str(ACTION_LABELS.get(after, after)),
                }
            )
    return changes


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
    actions = {
        code_: form.get(f"action_{code_}")
        for code_ in CATEGORIES
        if form.get(f"action_{code_}") in CATEGORY_ACTIONS
    }
    extra = []
    for i in range(3):
        label = form.get(f"extra_label_{i}", "").strip()
        keywords = [k.strip() for k in form.get(f"extra_keywords_{i}", "").split(",") if k.strip()]
        if label and keywords:
            extra.append(
                {
                    "key": f"extra{i}",
                    "label": label[:80],
                    "keywords": [_literal(k) for k in keywords][:20],
                    "action": form.get(f"extra_action_{i}", "block"),
                }
            )
    services = get_services()
    with services.db.session() as s:
        c = teacher_course(s, code)
        old = CoursePolicy.from_dict(c.policy).to_dict()
        new = CoursePolicy.from_dict(
            {
                **old,
                "age_band": form["age_band"],
                "actions": actions,
                "extra_categories": extra,
                "country": form.get("country") or None,
            }
        ).to_dict()
        c.policy = new
        c.daily_question_limit = daily_limit
        services.audit.record(
            s,
            "policy_changed",
            user=me(s),
            course_id=c.id,
            details={"policy": new, "daily_question_limit": daily_limit},
        )
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
        items = with_previews(s, review_queue(s, [c.id]), get_services().gdpr)
        return render_template(
            "teacher/review.html", course=c, items=items, groups=by_student(items), tab="review"
        )


@bp.get("/<code>/review/counts")
@roles_required(*TEACHERS)
def review_counts(code: str):
    """The queue's counts (no text), polled by the open review page to update itself live."""
    with get_services().db.session() as s:
        c = teacher_course(s, code)
        items = review_queue(s, [c.id])
    total, critical = len(items), sum(1 for item in items if item["critical"])
    students = len({item["student"] for item in items})
    text = (
        ngettext("%(num)d item to review", "%(num)d items to review", total)
        + " · "
        + ngettext("%(num)d student", "%(num)d students", students)
    )
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
        services.audit.record(
            s,
            "review",
            user=me(s),
            course_id=c.id,
            details={"verdict_id": v.id, "decision": decision},
        )
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
        opened = services.gdpr.open_conversation(
            current_user.id, conversation_id, request.form.get("reason", ""), current_user.language
        )
    except GdprError as exc:
        flash(exc.message)
        return redirect(url_for("teacher.review", code=code))
    return render_template(
        "teacher/conversation.html",
        course=c,
        opened=opened,
        student=student.username if student else "?",
        tab="review",
    )


@bp.get("/<code>/usage")
@roles_required(*TEACHERS)
def stats(code: str):
    """The month (``?month=YYYY-MM``): question counts, most asked and unanswered questions, charts (server-side SVG)."""
    services = get_services()
    with services.db.session() as s:
        c = teacher_course(s, code)
        month = usage.parse_month(request.args.get("month"))
        data = usage.month_usage(s, c.id, month, read_text=services.gdpr.read_text)
        this_month = usage.parse_month(None)
        before = (month - timedelta(days=1)).replace(day=1)
        after = usage.next_month(month) if month < this_month else None
        return render_template(
            "teacher/usage.html",
            course=c,
            data=data,
            before=before,
            after=after,
            min_students=usage.MIN_STUDENTS,
            tab="usage",
        )


@bp.get("/notifications")
@roles_required("admin")
def notifications():
    """The school's crisis alerts by e-mail: on or off, and the recipient."""
    services = get_services()
    with services.db.session() as s:
        current = alert_service.settings(me(s).school)
    return _notifications_page(
        {"enabled": current.enabled, "address": current.address or ""}, error=None
    )


def _notifications_page(
    values: dict, *, error: str | None, status: int = 200, sent: str | None = None
):
    config = get_services().config
    return render_template(
        "teacher/notifications.html",
        values=values,
        error=error,
        sent=sent,
        smtp=bool(config.get("SMTP_HOST")),
        public_url=config.get("PUBLIC_URL") or "",
    ), status


@bp.post("/notifications")
@roles_required("admin")
def save_notifications():
    """Save the school's crisis e-mail settings (audited without the address)."""
    values = {
        "enabled": request.form.get("enabled") == "on",
        "address": request.form.get("address", "").strip(),
    }
    services = get_services()
    with services.db.session() as s:
        admin = me(s)
        try:
            saved = alert_service.save_settings(
                admin.school, enabled=values["enabled"], address=values["address"]
            )
        except alert_service.AlertSettingsError as exc:
            s.rollback()
            return _notifications_page(values, error=str(ALERT_ERRORS[exc.problem]), status=400)
        services.audit.record(
            s, "alert_settings_changed", user=admin, details={"email": saved.enabled}
        )
    flash(_("The alert settings were saved."))
    return redirect(url_for("teacher.notifications"))


@bp.post("/notifications/test")
@roles_required("admin")
def test_notification():
    """Send a test e-mail (no personal data) to the school's saved recipient now, and show what happened."""
    from app.notify import NotifyError

    services = get_services()
    with services.db.session() as s:
        admin = me(s)
        school_id, admin_id = admin.school_id, admin.id
        current = alert_service.settings(admin.school)
    values = {"enabled": current.enabled, "address": current.address or ""}
    try:
        address = services.alerts.send_test(school_id, actor_id=admin_id)
    except alert_service.AlertSettingsError:
        return _notifications_page(
            values,
            error=_("Save a recipient address first, then send the test e-mail."),
            status=400,
        )
    except NotifyError as exc:
        return _notifications_page(
            values, error=str(SMTP_ERRORS.get(exc.code, SMTP_ERRORS["smtp"]))
        )
    return _notifications_page(
        values,
        error=None,
        sent=_(
            "A test e-mail was sent to %(address)s. If it does not arrive "
            "within a few minutes, look in the spam folder, then ask the "
            "operator.",
            address=address,
        ),
    )

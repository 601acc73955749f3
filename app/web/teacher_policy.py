"""The teacher panel's moderation policy: age band and presets, action
per category, extra categories, daily limit.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.params import parse_int
from app.security import roles_required
from app.services import get_services
from app.web.access import me, teacher_course
from app.web.filters import ACTION_LABELS
from app.web.teacher_base import TEACHERS, bp, writable_course
from guard.policy import AGE_BANDS, CATEGORY_ACTIONS, CoursePolicy, age_presets, with_preset
from guard.taxonomy import CATEGORIES, SELF_HARM, plain_categories

ACTION_HELP = {
    "allow": _l("Answered from the material as usual. Nothing is flagged to you."),
    "care": _l(
        "Answered from the material, and the question appears in your review queue "
        "so you can follow up."
    ),
    "block": _l(
        "The student gets a kind refusal that suggests talking to an adult they trust. "
        "It appears in your review queue."
    ),
    "alert": _l("Refused like “Block”, and shown as an alert near the top of your review queue."),
}


@bp.get("/<code>/policy")
@roles_required(*TEACHERS)
def policy(code: str):
    """The course's moderation policy form; ``?preset=<age band>``
    fills it with that preset and lists the changes (unsaved).
    """
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
    """What applying a preset would change: ``field`` (the form field),
    ``label``, ``old`` and ``new``, in form order.
    """
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

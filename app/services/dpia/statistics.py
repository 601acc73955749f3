"""Guard decisions per hazard category, course and week, from the audit events; and their charts."""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from typing import Any

from app.services.i18n import N_, Translator
from core.models import AuditEvent
from guard.taxonomy import CATEGORIES as HAZARDS

DECISIONS = ("allow", "care", "block", "alert", "crisis")
FLAGGED = DECISIONS[1:]
# decisions as the browser names them (the msgids of app/web/filters.py ACTION_LABELS), plus the
# answer check's
DECISION_LABELS = {
    "allow": N_("Allow"),
    "care": N_("Answer with care"),
    "block": N_("Block"),
    "alert": N_("Block and alert the teacher"),
    "crisis": N_("Crisis"),
    "answer withheld": N_("answer withheld"),
}
PALETTE = {
    "allow": "#4c8c4a",
    "care": "#d9a300",
    "block": "#b5473a",
    "alert": "#7b2d8b",
    "crisis": "#1f3b73",
}


def _count(ev: AuditEvent, course: str, week: str, tallies: dict[str, Any]) -> list[dict[str, Any]]:
    """Add one question/answer/refusal event to the tallies; return the guard verdicts it
    carries.
    """
    d = ev.details or {}
    if ev.action == "question":
        action = d.get("action", "unknown")
        tallies["by_stage"]["question"][action] += 1
        tallies["by_course"][course][action] += 1
        tallies["by_week"][week][action] += 1
        return [d.get("input_verdict") or {}]
    tallies["by_stage"]["answer"][d.get("mode", ev.action)] += 1
    if ev.action == "refusal" and d.get("output_verdict"):
        tallies["by_course"][course]["answer withheld"] += 1
        tallies["by_week"][week]["answer withheld"] += 1
    return [d.get("output_verdict") or {}]


def moderation_statistics(events: list[AuditEvent], course_codes: dict[int, str]) -> dict[str, Any]:
    """Guard decisions per hazard category, course and ISO week, from the audit events."""
    tallies: dict[str, Any] = {
        "by_course": defaultdict(Counter),
        "by_week": defaultdict(Counter),
        "by_stage": defaultdict(Counter),
    }
    by_category: Counter[str] = Counter()
    errors = details_purged = 0
    for ev in events:
        if ev.action not in ("question", "answer", "refusal"):
            continue
        week = "{}-W{:02d}".format(*ev.ts.isocalendar()[:2])
        course = course_codes.get(ev.course_id, str(ev.course_id)) if ev.course_id else "-"
        details_purged += ev.details_purged_at is not None
        for v in _count(ev, course, week, tallies):
            errors += bool(v.get("error"))
            if v and not v.get("safe", True):
                by_category.update(v.get("categories") or ["unspecified"])
    return {
        "by_category": {
            k: {"name": HAZARDS.get(k, k), "count": n}
            for k, n in sorted(by_category.items(), key=lambda kv: -kv[1])
        },
        "by_course": {k: dict(v) for k, v in sorted(tallies["by_course"].items())},
        "by_week": {k: dict(v) for k, v in sorted(tallies["by_week"].items())},
        "by_stage": {k: dict(v) for k, v in tallies["by_stage"].items()},
        "guard_errors": errors,
        "events_with_purged_details": details_purged,
    }


def decision_label(action: str, _: Translator) -> str:
    """A decision's translated name (the code itself when unknown)."""
    return _(DECISION_LABELS[action]) if action in DECISION_LABELS else action


def _figure(plt, charts: dict[str, bytes], name: str, draw) -> None:
    """Draw one 7x3.2 inch chart with ``draw(ax)`` and keep it as PNG bytes."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    draw(ax)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    charts[name] = buf.getvalue()


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center")
    ax.set_axis_off()


def _by_category(stats: dict[str, Any], _: Translator, plain: dict[str, Any]):
    from matplotlib.ticker import MaxNLocator

    def draw(ax) -> None:
        cats = stats["by_category"]
        if cats:
            labels = [f"{k} {plain[k].name if k in plain else v['name']}" for k, v in cats.items()]
            ax.barh(labels[::-1], [v["count"] for v in cats.values()][::-1], color="#b5473a")
            ax.set_xlabel(_("flagged questions and answers"))
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            _empty(ax, _("No question or answer was flagged in this period"))
        ax.set_title(_("Flagged content by hazard category"))

    return draw


def _by_week(stats: dict[str, Any], _: Translator):
    from matplotlib.ticker import MaxNLocator

    def draw(ax) -> None:
        weeks = stats["by_week"]
        if weeks:
            actions = sorted(
                {a for v in weeks.values() for a in v},
                key=lambda a: DECISIONS.index(a) if a in DECISIONS else 9,
            )
            bottom = [0] * len(weeks)
            for a in actions:
                values = [weeks[w].get(a, 0) for w in weeks]
                ax.bar(
                    list(weeks),
                    values,
                    bottom=bottom,
                    label=decision_label(a, _),
                    color=PALETTE.get(a, "#888888"),
                )
                bottom = [b + v for b, v in zip(bottom, values, strict=True)]
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
            ax.set_ylabel(_("questions"))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        else:
            _empty(ax, _("No questions in this period"))
        ax.set_title(_("Guard decisions per week"))

    return draw


def _by_course(stats: dict[str, Any], _: Translator):
    from matplotlib.ticker import MaxNLocator

    def draw(ax) -> None:
        courses = stats["by_course"]
        if courses:
            xs = range(len(courses))
            asked = [sum(v.get(a, 0) for a in DECISIONS) for v in courses.values()]
            flagged = [sum(v.get(a, 0) for a in FLAGGED) for v in courses.values()]
            ax.bar([x - 0.2 for x in xs], asked, width=0.4, label=_("questions"), color="#4c6c9c")
            ax.bar(
                [x + 0.2 for x in xs],
                flagged,
                width=0.4,
                label=_("flagged (care, block, alert, crisis)"),
                color="#b5473a",
            )
            ax.set_xticks(list(xs), list(courses))
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(fontsize=8)
        else:
            _empty(ax, _("No questions in this period"))
        ax.set_title(_("Questions and flagged questions per course"))

    return draw


def render_charts(stats: dict[str, Any], _: Translator | None = None) -> dict[str, bytes]:
    """PNG charts of the moderation statistics (matplotlib, headless), labelled in ``tr``'s
    language.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from guard.taxonomy import plain_categories

    _ = _ or Translator()
    charts: dict[str, bytes] = {}
    _figure(
        plt,
        charts,
        "moderation_by_category.png",
        _by_category(stats, _, plain_categories(_.language)),
    )
    _figure(plt, charts, "moderation_by_week.png", _by_week(stats, _))
    _figure(plt, charts, "moderation_by_course.png", _by_course(stats, _))
    return charts

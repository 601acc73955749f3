"""The teacher's review queue: flagged questions and answers, most critical first, with previews."""

from __future__ import annotations

from sqlalchemy import select

from core.models import Course, GuardVerdict, Message, User
from guard.pii import redact
from guard.policy import CoursePolicy
from guard.taxonomy import SELF_HARM

FLAGGED = ("block", "crisis", "care", "alert", "report")


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
    policies = {
        c.id: CoursePolicy.from_dict(c.policy)
        for c in s.scalars(select(Course).where(Course.id.in_(course_ids)))
    }
    q = select(GuardVerdict).where(
        GuardVerdict.course_id.in_(course_ids),
        GuardVerdict.action.in_(FLAGGED),
        GuardVerdict.message_id.is_not(None),
    )
    if not include_reviewed:
        q = q.where(GuardVerdict.reviewed.is_(None))
    rows = s.scalars(q.order_by(GuardVerdict.id.desc()).limit(200)).all()
    ranked = sorted(
        ((_severity(v, policies[v.course_id]), v) for v in rows),
        key=lambda pair: (pair[0], -pair[1].id),
    )
    items = []
    for severity, v in ranked:
        msg = v.message
        conv = msg.conversation
        author = s.get(User, conv.user_id)
        items.append(
            {
                "id": v.id,
                "stage": v.stage,
                "action": "alert" if severity == 1 else v.action,
                "categories": v.categories or [],
                "score": v.score,
                "critical": severity == 0,
                "created_at": v.created_at,
                "role": msg.role,
                "student": author.username if author else "?",
                "course_id": v.course_id,
                "reviewed": v.reviewed,
                "conversation_id": conv.id,
                "message_id": msg.id,
            }
        )
    return items


PREVIEW_CHARS = 120


def with_previews(s, items: list[dict], gdpr) -> list[dict]:
    """Each item with ``preview``: the flagged message itself, PII-redacted and cut at a word (never
    the conversation).

    ``gdpr`` (the service) opens the stored text, which may be encrypted per user.
    """
    for item in items:
        msg = s.get(Message, item["message_id"])
        text = gdpr.read_text(s, msg) if msg is not None else None
        if not text:
            item["preview"] = None
            continue
        clean = " ".join(redact(text)[0].split())
        item["preview"] = (
            clean if len(clean) <= PREVIEW_CHARS else clean[:PREVIEW_CHARS].rsplit(" ", 1)[0] + " …"
        )
    return items


def by_student(items: list[dict]) -> list[tuple[str, list[dict]]]:
    """Items grouped per student, the student with the most critical item first (the
    queue's order).
    """
    groups: dict[str, list[dict]] = {}
    for item in items:
        groups.setdefault(item["student"], []).append(item)
    return list(groups.items())

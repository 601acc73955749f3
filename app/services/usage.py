"""A course's month for its teacher: how many questions, what is asked most, what the material could
not answer.

*Choices (issue 16):*

- The lists show question text **redacted** (``guard.pii.redact``) and **grouped** by a
  normalised form (case, accents, punctuation and spacing folded), with how many times and
  by how many students it was asked; never a username, so no text is shown with its author.
- "Most asked" needs at least :data:`MIN_STUDENTS` different students: one student's
  repeated question is not the class's, and is not singled out.
- Only questions that were answered normally (action ``allow``) are listed. Refused,
  crisis and care questions are in the review queue, where opening more needs a reason.
- "Not in the material" is an answer without citations that was not refused: the ask
  pipeline's ``not_covered`` reply (app/services/ask.py), the teacher's best signal for
  what to add. Questions from the teacher's own tests count like any other.
- Months are calendar months in UTC, like the daily question limit.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Conversation, Message
from guard.pii import redact

MIN_STUDENTS = 2
TOP = 10
UNANSWERED = 20
MAX_TEXTS = 3000  # question texts opened per page view (each is sealed per student)
SHOW_CHARS = 160
_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


@dataclass(frozen=True)
class QuestionGroup:
    """Questions with the same normalised text."""

    text: str  # redacted, in the form asked most often
    count: int
    students: int


@dataclass(frozen=True)
class MonthUsage:
    """One course's month."""

    month: date  # its first day
    days: list[tuple[date, int]]  # questions per day
    total: int
    students: int  # different people who asked
    answered: int  # answered from the material
    not_covered: int  # "not in the material" answers
    actions: dict[str, int]  # moderation outcome of the questions
    top: list[QuestionGroup] = field(default_factory=list)
    unanswered: list[QuestionGroup] = field(default_factory=list)

    @property
    def max_day(self) -> int:
        """The busiest day's count (at least 1, for chart scales)."""
        return max([n for _, n in self.days] + [1])

    @property
    def max_action(self) -> int:
        """The largest moderation count (at least 1)."""
        return max([*self.actions.values(), 1])


def parse_month(text: str | None, today: date | None = None) -> date:
    """``YYYY-MM`` as the month's first day; the current month (UTC) when empty or invalid."""
    today = today or datetime.now(UTC).date()
    try:
        year, month = (int(part) for part in (text or "").split("-"))
        return date(year, month, 1) if 2000 <= year <= 9999 else today.replace(day=1)
    except ValueError:
        return today.replace(day=1)


def next_month(month: date) -> date:
    """The first day of the following month."""
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def normalise_question(text: str) -> str:
    """The grouping key: casefolded, accents and punctuation removed, spaces folded."""
    folded = "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    ).casefold()
    return _NOT_WORD.sub(" ", folded).strip()


def _shown(text: str) -> str:
    clean = " ".join(text.split())
    return clean if len(clean) <= SHOW_CHARS else clean[:SHOW_CHARS].rsplit(" ", 1)[0] + " …"


def _groups(asked: list[tuple[str, int]], *, min_students: int, limit: int) -> list[QuestionGroup]:
    """``(redacted text, user id)`` pairs grouped by normalised text, most asked first."""
    variants: dict[str, Counter] = defaultdict(Counter)
    people: dict[str, set[int]] = defaultdict(set)
    for text, user_id in asked:
        key = normalise_question(text)
        if key:
            variants[key][_shown(text)] += 1
            people[key].add(user_id)
    groups = [
        QuestionGroup(text=v.most_common(1)[0][0], count=sum(v.values()), students=len(people[k]))
        for k, v in variants.items()
        if len(people[k]) >= min_students
    ]
    return sorted(groups, key=lambda g: (-g.count, -g.students, g.text))[:limit]


def month_usage(
    session: Session,
    course_id: int,
    month: date,
    *,
    read_text: Callable[[Session, Message, int], str | None],
) -> MonthUsage:
    """Counts, most asked and unanswered questions of ``course_id`` in ``month`` (``read_text``:
    gdpr.read_text).
    """
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = datetime.combine(next_month(month), datetime.min.time(), tzinfo=UTC)
    rows = session.execute(
        select(Message, Conversation.user_id)
        .join(Conversation, Message.conversation_id == Conversation.id)
        .where(
            Conversation.course_id == course_id,
            Message.created_at >= start,
            Message.created_at < end,
        )
        .order_by(Message.conversation_id, Message.id)
    ).all()
    per_day: Counter = Counter()
    actions: Counter = Counter()
    askers: set[int] = set()
    answered = not_covered = 0
    last_question: dict[int, Message] = {}
    unanswered_ids: set[int] = set()
    for msg, user_id in rows:
        if msg.role == "user":
            created = (
                msg.created_at if msg.created_at.tzinfo else msg.created_at.replace(tzinfo=UTC)
            )
            per_day[created.date()] += 1
            actions[msg.action] += 1
            askers.add(user_id)
            last_question[msg.conversation_id] = msg
        elif msg.action in ("allow", "care"):
            if msg.citations:
                answered += 1
            else:  # not refused and nothing cited: "not in the material"
                not_covered += 1
                question = last_question.get(msg.conversation_id)
                if question is not None:
                    unanswered_ids.add(question.id)
    days = [
        (month + timedelta(days=i), per_day.get(month + timedelta(days=i), 0))
        for i in range((next_month(month) - month).days)
    ]
    asked, missed = _texts(session, rows, unanswered_ids, read_text)
    return MonthUsage(
        month=month,
        days=days,
        total=sum(per_day.values()),
        students=len(askers),
        answered=answered,
        not_covered=not_covered,
        actions=dict(actions),
        top=_groups(asked, min_students=MIN_STUDENTS, limit=TOP),
        unanswered=_groups(missed, min_students=1, limit=UNANSWERED),
    )


def _texts(
    session: Session, rows, unanswered_ids: set[int], read_text
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """The redacted text of the normally answered questions (at most :data:`MAX_TEXTS`), and of the
    unanswered ones.
    """
    asked: list[tuple[str, int]] = []
    missed: list[tuple[str, int]] = []
    questions = [(m, uid) for m, uid in rows if m.role == "user" and m.action == "allow"]
    questions.sort(
        key=lambda pair: (pair[0].id not in unanswered_ids, -pair[0].id)
    )  # unanswered and newest first
    for msg, user_id in questions[:MAX_TEXTS]:
        text = read_text(session, msg, user_id)
        if not text:
            continue  # erased, deleted by the student, or never kept (MESSAGE_TEXT_STORAGE)
        clean = redact(text)[0]
        asked.append((clean, user_id))
        if msg.id in unanswered_ids:
            missed.append((clean, user_id))
    return asked, missed

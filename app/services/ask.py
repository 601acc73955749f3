"""The question path as named steps: prepare -> record -> retrieve -> answer stream -> finish.

One service for the JSON API, the browser's streamed answers and the CLI. ``stream``
yields events; text reaches the caller one sentence at a time and only after the output
guard has passed it with the question and the sentences just before it (the final sentence
after the whole answer as well: ``OUTPUT_GUARD_WINDOW``); that step, the answer stream, is
``Answerer`` in app/services/answer.py. A frozen ``Turn`` (app/services/turn.py) carries
one question from step to step (docs/architecture.md).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from app.citations import in_order
from app.params import valid_id
from app.retrieval import RetrievedPassage
from app.services.accounts import can_ask
from app.services.answer import Answerer, not_covered_message, unavailable_message
from app.services.turn import Access, Clock, Reply, Turn, elapsed_ms
from core.errors import Forbidden, KatederError, LimitReached, NotFound, Unavailable, UserError
from core.language import detect_language, normalise_language
from core.models import Conversation, Course, GuardVerdict, Message, User
from guard.normalize import strip_invisible
from guard.pii import redact
from guard.policy import CoursePolicy, ModerationResult

MAX_QUESTION_CHARS = 2000


# The question path raises the one hierarchy (core/errors.py). AskError, the name the answer
# stream and older callers catch, is its root: every user-facing error passes through as it is.
AskError = KatederError


@dataclass
class AskResult:
    """Everything the API and the CLI return for one question."""

    answer: str
    blocked: bool
    action: str
    mode: str  # generated | extractive | not_covered | refusal | crisis
    language: str
    citations: list[dict[str, Any]]
    input_verdict: dict[str, Any]
    output_verdict: dict[str, Any] | None
    audit_id: int
    conversation_id: int
    message_id: int
    model: str
    notices: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    # generated answers: sentences checked, removed as unsupported, re-cited (app/grounding.py)
    grounding: dict[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``kateder ask --json`` and ``POST /api/v1/courses/<code>/ask``)."""
        return asdict(self)


class AskService:
    """Answers a student's question from the course's own material.

    The steps, in order (docs/architecture.md): prepare (validate, authorise and take a
    daily-limit slot, moderate) -> record the question -> retrieve -> answer stream
    (generate or quote; per-sentence output guard and grounding) -> finish (store,
    audit, verdicts, usage).
    """

    def __init__(self, services) -> None:
        """Use the shared components of ``services``."""
        self.s = services
        # step 4 (app/services/answer.py): the prompts and the grounding and output guard settings
        self.answerer = Answerer(services, on_failure=self._record_failure)

    # -- public API -----------------------------------------------------------------
    def ask(
        self, user_id: int, course_code: str, question: str, conversation_id: int | None = None
    ) -> AskResult:
        """Answer a question in one call (the CLI and the JSON API)."""
        for event in self.stream(user_id, course_code, question, conversation_id):
            if event["type"] == "done":
                return event["result"]
        raise Unavailable("the answer pipeline ended without a result")  # pragma: no cover

    def stream(
        self, user_id: int, course_code: str, question: str, conversation_id: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield ``meta``, then ``sentence`` events, then one ``done`` event with the AskResult."""
        clock = Clock()
        turn = self.prepare(
            user_id=user_id,
            course_code=course_code,
            question=question,
            conversation_id=conversation_id,
            clock=clock,
        )
        turn = self.record_question(turn, clock)
        if (
            turn.checked.action == "crisis"
        ):  # before anything is sent: a closed connection cannot skip it
            self.s.alerts.crisis(turn.course_id)
        yield {"type": "meta", "conversation_id": turn.conversation_id, "language": turn.language}
        if not turn.checked.allowed:
            text = turn.checked.message or not_covered_message(turn.language)
            yield {"type": "refusal", "text": text, "action": turn.checked.action}
            mode = "crisis" if turn.checked.action == "crisis" else "refusal"
            reply = Reply(text=text, action=turn.checked.action, mode=mode, citations=[])
        else:
            passages = self.retrieve(turn, clock)
            # citations numbered 1, 2, 3 in the order the student meets them (app/citations.py)
            reply = yield from in_order(
                self.answer_stream(turn, passages, clock),
                passages=sum(p.relevant for p in passages),
            )
        result = self._finish(turn, reply, clock)
        if (
            reply.action == "crisis" and turn.checked.action != "crisis"
        ):  # the answer was the crisis
            self.s.alerts.crisis(turn.course_id)
        # the adapters add their own fields to the final event (app/streaming.py: to_sse(extra=...))
        yield {"type": "done", "result": result}

    # -- steps ----------------------------------------------------------------------
    def prepare(
        self,
        *,
        user_id: int,
        course_code: str,
        question: str,
        conversation_id: int | None,
        clock: Clock,
    ) -> Turn:
        """Validate, authorise (and take a daily-limit slot), moderate the question."""
        # judged after normalisation: zero-width and other invisible characters are not a question,
        # and an identifier split by them ("anna\u200b@example.se") is still found by the redaction
        question = strip_invisible(question or "").strip()
        if not question:
            raise UserError("the question is empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise UserError(f"the question is too long (at most {MAX_QUESTION_CHARS} characters)")
        if conversation_id is not None and not valid_id(
            conversation_id
        ):  # never reaches a query (app/params.py)
            raise NotFound("no such conversation")
        access = self._authorise(user_id, course_code, conversation_id)
        with self._until_recorded(access):
            return self._moderate(access, question, clock)

    @contextmanager
    def _until_recorded(self, slot: Access | Turn) -> Iterator[None]:
        """A failure before the question is on record gives its daily-limit slot back: it does not
        count.
        """
        try:
            yield
        except BaseException:
            if slot.took_slot:
                self.s.quota.give_back(slot.user_id, slot.course_id)
            raise

    def _authorise(self, user_id: int, course_code: str, conversation_id: int | None) -> Access:
        """Enrolled in the course? Own conversation? Within the daily limit (a slot is taken)?"""
        with self.s.db.session() as s:
            user = s.get(User, user_id)
            course = s.scalar(select(Course).where(Course.code == course_code))
            if user is None or course is None:
                raise NotFound(f"no course {course_code!r}")
            if not can_ask(s, user, course):
                raise Forbidden(f"you are not enrolled in {course_code!r}")
            history = (
                self._history(s, conversation_id, user.id, course.id) if conversation_id else []
            )
            # the daily limit: counted in the database, and taken atomically from a counter that
            # every worker shares, so questions sent at once to several workers cannot exceed it
            took_slot = user.role == "student"
            if took_slot and not self.s.quota.take(
                user.id,
                course.id,
                limit=course.daily_question_limit,
                asked=questions_asked_today(s, user.id, course.id),
            ):
                raise LimitReached(
                    "you have reached today's question limit for this course; try again tomorrow",
                    code="daily_limit",
                )
            return Access(
                user_id=user.id,
                course_id=course.id,
                course_language=course.language,
                policy=CoursePolicy.from_dict(course.policy),
                history=tuple(history),
                conversation_id=conversation_id,
                took_slot=took_slot,
            )

    def _moderate(self, access: Access, question: str, clock: Clock) -> Turn:
        """Detect the language, redact personal data and apply the course policy (input guard)."""
        language = normalise_language(detect_language(question, default=access.course_language))
        t = time.perf_counter()
        checked = self.s.moderator.check_question(question, policy=access.policy, language=language)
        clock.timings["input_guard"] = elapsed_ms(t)
        return Turn(
            user_id=access.user_id,
            course_id=access.course_id,
            policy=access.policy,
            language=language,
            question=checked.text,
            chars=len(question),
            history=access.history,
            conversation_id=access.conversation_id,
            checked=checked,
            took_slot=access.took_slot,
        )

    def record_question(self, turn: Turn, clock: Clock) -> Turn:
        """Audit first: the (redacted) question and its verdict are on record before anything is
        answered.
        """
        t = time.perf_counter()
        checked = turn.checked
        with self._until_recorded(turn), self.s.db.session() as s:
            user = s.get(User, turn.user_id)
            conversation = self._conversation(s, turn.conversation_id, user, turn.course_id)
            asked = Message(
                conversation=conversation,
                role="user",
                language=turn.language,
                action=checked.action,
                **self.s.gdpr.text_fields(s, user.id, checked.text),
            )  # sealed per student (docs/gdpr.md)
            s.add(asked)
            s.flush()
            s.add(_verdict_row(checked, "input", turn.course_id, message=asked))
            self.s.audit.record(
                s,
                "question",
                user=user,
                course_id=turn.course_id,
                details={
                    "conversation_id": conversation.id,
                    "message_id": asked.id,
                    "language": turn.language,
                    "action": checked.action,
                    "input_verdict": checked.verdict.to_dict(),
                    "redactions": list(checked.redactions),
                    "chars": turn.chars,
                },
            )
            conversation_id = conversation.id
        clock.timings["audit_question"] = elapsed_ms(t)
        return replace(turn, conversation_id=conversation_id)

    def retrieve(self, turn: Turn, clock: Clock) -> list[RetrievedPassage]:
        """This course's passages for the redacted question; a failure is audited and reported as
        unavailable.
        """
        t = time.perf_counter()
        try:
            passages = self._retrieve(turn.course_id, turn.question, list(turn.history))
        except (
            Exception
        ) as exc:  # the vector store (or the database) is down: say so, keep the record
            self._record_failure(turn, exc)
            raise Unavailable(unavailable_message("search", turn.language)) from exc
        clock.timings["retrieval"] = elapsed_ms(t)
        return passages

    def answer_stream(
        self, turn: Turn, passages: list[RetrievedPassage], clock: Clock
    ) -> Generator[dict[str, Any], None, Reply]:
        """Yield the released sentences (and a refusal); return the reply to store
        (app/services/answer.py).
        """
        return self.answerer.stream(turn, passages, clock)

    def _retrieve(
        self, course_id: int, query: str, history: list[tuple[str, str]]
    ) -> list[RetrievedPassage]:
        """Retrieve; a short follow-up that finds nothing is retried with the previous question."""
        passages = self.s.retriever.retrieve(course_id, query)
        if history and not any(p.relevant for p in passages):
            passages = self.s.retriever.retrieve(course_id, f"{history[-1][0]} {query}")
        return passages

    # -- persistence ----------------------------------------------------------------
    def _finish(self, turn: Turn, reply: Reply, clock: Clock) -> AskResult:
        """Store the answer and its verdict, and audit it, in one transaction."""
        t = time.perf_counter()
        conversation_id = turn.conversation_id
        if (
            conversation_id is None
        ):  # pragma: no cover - record_question sets it before anything is answered
            raise RuntimeError("the answer's question was not recorded")
        model = self.s.generator.info.name if reply.mode == "generated" else "none"
        with self.s.db.session() as s:
            answer = Message(
                conversation_id=conversation_id,
                role="assistant",
                language=turn.language,
                action=reply.action,
                citations=reply.citations,
                **self.s.gdpr.text_fields(s, turn.user_id, reply.text),
            )
            s.add(answer)
            s.flush()
            if reply.output is not None:
                s.add(_verdict_row(reply.output, "output", turn.course_id, message=answer))
            event = self.s.audit.record(
                s,
                "refusal" if reply.mode in ("refusal", "crisis") else "answer",
                user=s.get(User, turn.user_id),
                course_id=turn.course_id,
                details=_answer_details(
                    turn, reply, model=model, message_id=answer.id, timings=clock.timings
                ),
            )
            audit_id, message_id = event.id, answer.id
        clock.timings["audit_answer"] = elapsed_ms(t)
        clock.timings["total"] = elapsed_ms(clock.started)
        checked = turn.checked
        return AskResult(
            answer=reply.text,
            blocked=reply.action in ("block", "crisis"),
            action=reply.action,
            mode=reply.mode,
            language=turn.language,
            citations=reply.citations,
            input_verdict=checked.verdict.to_dict(),
            output_verdict=reply.output.verdict.to_dict() if reply.output else None,
            audit_id=audit_id,
            conversation_id=conversation_id,
            message_id=message_id,
            model=model,
            notices=[checked.message] if checked.allowed and checked.message else [],
            timings_ms={k: round(v, 1) for k, v in clock.timings.items()},
            grounding=reply.grounding,
        )

    def _record_failure(self, turn: Turn, exc: Exception) -> None:
        """Audit that a question went unanswered because a component failed."""
        try:
            with self.s.db.session() as s:
                self.s.audit.record(
                    s,
                    "answer_failed",
                    user=s.get(User, turn.user_id),
                    course_id=turn.course_id,
                    details={"conversation_id": turn.conversation_id, "error": type(exc).__name__},
                )
        except Exception:  # noqa: BLE001 - the database may be the part that failed
            pass

    @staticmethod
    def _conversation(s, conversation_id: int | None, user: User, course_id: int) -> Conversation:
        if conversation_id is not None:
            conversation = s.get(Conversation, conversation_id)
            if (
                conversation is None
                or conversation.user_id != user.id
                or conversation.course_id != course_id
            ):
                raise NotFound("no such conversation")
            return conversation
        conversation = Conversation(user_id=user.id, course_id=course_id)
        s.add(conversation)
        s.flush()
        return conversation

    def _history(
        self, s, conversation_id: int, user_id: int, course_id: int
    ) -> list[tuple[str, str]]:
        """The last (question, answer) pairs of an own conversation, redacted again before any model
        sees them.
        """
        conversation = s.get(Conversation, conversation_id)
        if (
            conversation is None
            or conversation.user_id != user_id
            or conversation.course_id != course_id
        ):
            raise NotFound("no such conversation")
        msgs = s.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.id.desc())
            .limit(4)
        ).all()[::-1]
        pairs = []
        for q, a in zip(msgs, msgs[1:], strict=False):
            if q.role == "user" and a.role == "assistant" and q.action in ("allow", "care"):
                old_q, _ = redact(self.s.gdpr.read_text(s, q, user_id) or "")
                old_a, _ = redact(self.s.gdpr.read_text(s, a, user_id) or "")
                pairs.append((old_q, old_a))
        return pairs


def questions_asked_today(s, user_id: int, course_id: int) -> int:
    """How many questions a user asked in a course since midnight UTC (the daily limit)."""
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (
        s.scalar(
            select(func.count(Message.id))
            .join(Conversation, Message.conversation_id == Conversation.id)
            .where(
                Conversation.user_id == user_id,
                Conversation.course_id == course_id,
                Message.role == "user",
                Message.created_at >= start,
            )
        )
        or 0
    )


def _answer_details(
    turn: Turn, reply: Reply, *, model: str, message_id: int, timings: dict[str, float]
) -> dict[str, Any]:
    """The ``answer`` / ``refusal`` audit event's details."""
    return {
        "conversation_id": turn.conversation_id,
        "message_id": message_id,
        "mode": reply.mode,
        "action": reply.action,
        "model": model,
        "input_verdict": turn.checked.verdict.to_dict(),
        "output_verdict": reply.output.verdict.to_dict() if reply.output else None,
        "passages": [
            {"id": p.id, "document_id": p.document_id, "version": p.version} for p in reply.passages
        ],
        "cited": [c["passage_id"] for c in reply.citations],
        "grounding": reply.grounding,
        "timings_ms": {k: round(v, 1) for k, v in timings.items()},
    }


def _verdict_row(
    result: ModerationResult, stage: str, course_id: int, message: Message | None = None
) -> GuardVerdict:
    v = result.verdict
    return GuardVerdict(
        message=message,
        course_id=course_id,
        stage=stage,
        safe=v.safe,
        action=result.action,
        categories=list(v.categories),
        score=float(v.score),
        backend=v.backend,
        model=v.model,
        error=v.error,
    )

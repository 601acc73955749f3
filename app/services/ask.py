"""The question path as named steps: prepare -> record -> retrieve -> answer stream -> finish.

One service for the JSON API, the browser's streamed answers and the CLI. ``stream``
yields events; text reaches the caller one sentence at a time and only after the output
guard has passed it with the question and the sentences just before it (the final sentence
after the whole answer as well: ``OUTPUT_GUARD_WINDOW``). A frozen ``Turn``
(app/services/turn.py) carries one question from step to step (docs/architecture.md).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from app.citations import in_order
from app.generation import load_prompt
from app.grounding import Grounder, extract_sentences
from app.params import valid_id
from app.retrieval import RetrievedPassage
from app.services.accounts import can_ask
from app.services.i18n import N_, Translator
from app.services.turn import Access, Clock, Release, Reply, Turn
from core.errors import Forbidden, KatederError, LimitReached, NotFound, Unavailable, UserError
from core.language import detect_language, normalise_language
from core.models import Conversation, Course, GuardVerdict, Message, User
from guard.normalize import strip_invisible
from guard.pii import redact
from guard.policy import CoursePolicy, ModerationResult

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=\S)|\n+")
_CITATION = re.compile(r"\[(\d{1,2})\]")


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


# What the student reads in the question's language, through the Babel catalogues (app/services/i18n.py):
# the language is the turn's, not the request's (the CLI and the API ask too).
_NOT_COVERED = N_(
    "Your course material does not cover this, so I can't answer it. Try asking your teacher."
)
# quotes (a language the answer model cannot write, or nothing it wrote was supported): said plainly
_QUOTE_LABEL = N_(
    "I found this in your course material. Here are the sentences, copied exactly as they are written:"
)
_UNAVAILABLE = {
    "model": N_("the answer model is not available right now; please try again in a moment"),
    "search": N_("the course material cannot be searched right now; please try again in a moment"),
}


def unavailable_message(part: str, language: str) -> str:
    """What the student sees when ``part`` (model, search) is down or too slow."""
    return Translator.for_language(language)(_UNAVAILABLE[part])


def not_covered_message(language: str) -> str:
    """What the student sees when the material has nothing relevant."""
    return Translator.for_language(language)(_NOT_COVERED)


def split_sentences(buffer: str) -> tuple[list[str], str]:
    """Complete sentences in ``buffer`` and the unfinished rest."""
    parts = _SENTENCE_END.split(buffer)
    if len(parts) == 1:
        return [], buffer
    return [p.strip() for p in parts[:-1] if p.strip()], parts[-1]


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
        self.system_prompt = load_prompt("answer_system.txt")
        self.user_template = load_prompt("answer_user.txt")
        self.min_support = float(services.config.get("GROUNDING_MIN_SUPPORT", 0.5))
        # sentences the output guard reads before releasing one (the new one included); 0: the whole answer
        self.guard_window = max(0, int(services.config.get("OUTPUT_GUARD_WINDOW", 3)))

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
        """A failure before the question is on record gives its daily-limit slot back: it does not count."""
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
        clock.timings["input_guard"] = _ms(t)
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
        """Audit first: the (redacted) question and its verdict are on record before anything is answered."""
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
        clock.timings["audit_question"] = _ms(t)
        return replace(turn, conversation_id=conversation_id)

    def retrieve(self, turn: Turn, clock: Clock) -> list[RetrievedPassage]:
        """This course's passages for the redacted question; a failure is audited and reported as unavailable."""
        t = time.perf_counter()
        try:
            passages = self._retrieve(turn.course_id, turn.question, list(turn.history))
        except (
            Exception
        ) as exc:  # the vector store (or the database) is down: say so, keep the record
            self._record_failure(turn, exc)
            raise Unavailable(unavailable_message("search", turn.language)) from exc
        clock.timings["retrieval"] = _ms(t)
        return passages

    def answer_stream(
        self, turn: Turn, passages: list[RetrievedPassage], clock: Clock
    ) -> Generator[dict[str, Any], None, Reply]:
        """Yield the released sentences (and a refusal); return the reply to store."""
        # from here on only the redacted text is used: no personal identifier reaches the answer
        # model, the output guard or the quotes, whichever backend (local or remote) they run on
        relevant = [p for p in passages if p.relevant]
        release = yield from self._release_answer(turn, relevant, clock)
        if release.blocked:
            output = release.output
            if (
                output is None
            ):  # pragma: no cover - only the output guard's verdict blocks (_check_output)
                raise RuntimeError("the answer was blocked without an output verdict")
            refusal = output.message or not_covered_message(turn.language)
            yield {"type": "refusal", "text": refusal, "action": output.action}
            text = " ".join([*release.released, refusal]).strip()
            action, mode = output.action, ("crisis" if output.action == "crisis" else "refusal")
        else:
            text = " ".join(release.released).strip()
            action = "allow" if release.output is None else release.output.action
            mode = release.mode
            if not text:
                text, mode = not_covered_message(turn.language), "not_covered"
        if mode in ("generated", "extractive"):
            citations = self._citations(text, relevant)
        else:  # a refusal after released sentences: their [n] markers still need their sources
            citations = (
                self._citations(" ".join(release.released), relevant, fallback=False)
                if release.released
                else []
            )
        return Reply(
            text=text,
            action=action,
            mode=mode,
            citations=citations,
            output=release.output,
            passages=passages,
            grounding=release.grounding if release.grounded else None,
        )

    def _release_answer(
        self, turn: Turn, relevant: list[RetrievedPassage], clock: Clock
    ) -> Generator[dict[str, Any], None, Release]:
        """Generate (the model knows the language) or quote; fall back to quotes when nothing was supported."""
        if not relevant:
            mode, pieces = "not_covered", iter([not_covered_message(turn.language) + "\n"])
        elif turn.language in self.s.generator.info.languages:
            mode, pieces = "generated", self._generate(turn.question, relevant, list(turn.history))
        else:
            mode, pieces = (
                "extractive",
                self._quotes(turn.question, relevant, turn.language, context=_context(turn)),
            )
        # generated sentences must be supported by a passage they cite (app/grounding.py);
        # the guard sees each sentence first, so an unsafe one stops the answer even if unsupported
        grounder = (
            Grounder(relevant, turn.language, self.min_support) if mode == "generated" else None
        )
        release = Release(mode=mode, grounded=grounder is not None)
        stages: list[tuple[Iterator[str], Grounder | None]] = [(pieces, grounder)]
        t_gen = time.perf_counter()
        try:
            while stages:
                stage, ground = stages.pop(0)
                yield from self._release_sentences(
                    turn, release, stage=stage, ground=ground, clock=clock
                )
                if release.mode == "generated" and not release.released and not release.blocked:
                    if not release.grounding[
                        "checked"
                    ]:  # not one sentence came back: a cancelled or broken stream
                        log.warning(
                            "the model returned no text for a question in course %s; answering with quotes "
                            "(an OpenAI-compatible server started without --interrupt_requests False?)",
                            turn.course_id,
                        )
                    # nothing the model wrote was supported: quote the material instead
                    release.mode = "extractive"
                    stages.append(
                        (
                            self._quotes(
                                turn.question, relevant, turn.language, context=_context(turn)
                            ),
                            None,
                        )
                    )
        except AskError:
            raise
        except Exception as exc:  # the model server or the model failed: say so, keep the record
            self._record_failure(turn, exc)
            raise Unavailable(unavailable_message("model", turn.language)) from exc
        finally:  # a stopped answer stops the model (and frees it for the next question) now
            close = getattr(pieces, "close", None)
            if close is not None:
                close()
        clock.timings["generation"] = max(0.0, _ms(t_gen) - release.guard_ms)
        clock.timings["output_guard"] = release.guard_ms
        if release.first_sentence_at is not None:
            clock.timings["first_sentence"] = release.first_sentence_at
        return release

    def _release_sentences(
        self,
        turn: Turn,
        release: Release,
        *,
        stage: Iterator[str],
        ground: Grounder | None,
        clock: Clock,
    ) -> Iterator[dict[str, Any]]:
        """Output guard (a window of the answer; the whole answer before its final sentence), then grounding."""
        for sentence, final in _sentences(stage):
            read_whole = self._output_guard(
                turn, release, [*release.released, sentence], final=final
            )
            if release.blocked:
                return
            if ground is not None:
                verdict = ground.check(sentence)
                release.grounding["checked"] += 1
                if not verdict.supported:
                    release.grounding["removed"] += 1
                    continue
                release.grounding["recited"] += int(verdict.changed)
                sentence = verdict.text
            release.released.append(sentence)
            if read_whole:
                release.read_whole = len(release.released)
            if release.first_sentence_at is None:
                release.first_sentence_at = _ms(clock.started)
            yield {"type": "sentence", "text": sentence}
        # the stream ended on a sentence grounding removed: the released answer has not been read whole yet
        if release.released and release.read_whole < len(release.released):
            self._output_guard(turn, release, list(release.released), final=True)

    def _output_guard(
        self, turn: Turn, release: Release, sentences: list[str], *, final: bool
    ) -> bool:
        """The output guard before the last of ``sentences`` is released; True when it read them all.

        A sentence is read with the question and the ``guard_window - 1`` sentences before it,
        so harm split over neighbouring sentences is seen together; the final sentence is read
        with the whole answer (harm spread further apart), which holds its window too. So the
        guard reads no more text than when it read the whole answer before every sentence
        (``guard_window`` 0), in as many checks, plus one when grounding removed the final
        sentence. An unsafe verdict, or a guard error (fail closed, guard/policy.py), sets
        ``release.blocked``: the answer stops there.
        """
        whole = final or not self.guard_window or len(sentences) <= self.guard_window
        t = time.perf_counter()
        release.output = self.s.moderator.check_answer(
            turn.question,
            " ".join(sentences if whole else sentences[-self.guard_window :]),
            policy=turn.policy,
            language=turn.language,
        )
        release.guard_ms += _ms(t)
        release.guard_checks += 1
        release.blocked = not release.output.allowed
        return whole

    def _retrieve(
        self, course_id: int, query: str, history: list[tuple[str, str]]
    ) -> list[RetrievedPassage]:
        """Retrieve; a short follow-up that finds nothing is retried with the previous question."""
        passages = self.s.retriever.retrieve(course_id, query)
        if history and not any(p.relevant for p in passages):
            passages = self.s.retriever.retrieve(course_id, f"{history[-1][0]} {query}")
        return passages

    def _generate(
        self, question: str, passages: list[RetrievedPassage], history: list[tuple[str, str]]
    ) -> Iterator[str]:
        """Stream the model's answer from a compact prompt with the fixed part first."""
        sources = "\n".join(f"[{i}] {p.text}" for i, p in enumerate(passages, 1))
        messages: list[tuple[str, str]] = [("system", self.system_prompt)]
        for old_q, old_a in history[-1:]:
            messages += [("human", old_q), ("ai", old_a)]
        messages.append(("human", self.user_template.format(sources=sources, question=question)))
        return self.s.generator.stream(messages)

    def _quotes(
        self, question: str, passages: list[RetrievedPassage], language: str, context: str = ""
    ) -> Iterator[str]:
        """The extractive answer as a stream of lines."""
        return iter(
            line + "\n" for line in self._extract(question, passages, language, context=context)
        )

    def _extract(
        self, question: str, passages: list[RetrievedPassage], language: str, context: str = ""
    ) -> list[str]:
        """The best supporting sentences, quoted in their own language with citations (``context``: a follow-up's subject)."""
        label = Translator.for_language(language)(_QUOTE_LABEL)
        quotes = extract_sentences(question, passages, language, context=context)
        return [label] + [f"«{sentence}» [{number}]" for sentence, number in quotes]

    def _citations(
        self, answer: str, passages: list[RetrievedPassage], fallback: bool = True
    ) -> list[dict[str, Any]]:
        """Citations for the [n] markers in the answer; the best passage when the model gave none."""
        if not passages:
            return []
        numbers = [int(n) for n in _CITATION.findall(answer) if 1 <= int(n) <= len(passages)]
        if not numbers and fallback:
            numbers = [1]
        return [passages[n - 1].citation(n) for n in dict.fromkeys(numbers)]

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
        clock.timings["audit_answer"] = _ms(t)
        clock.timings["total"] = _ms(clock.started)
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
        """The last (question, answer) pairs of an own conversation, redacted again before any model sees them."""
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


def _context(turn: Turn) -> str:
    """A follow-up's subject for the quotes: the previous question of the conversation (redacted)."""
    return turn.history[-1][0] if turn.history else ""


def _sentences(pieces: Iterator[str]) -> Iterator[tuple[str, bool]]:
    """Regroup a stream of text pieces into whole sentences (as ``split_sentences`` cuts them).

    Each comes with whether it is the answer's final sentence. A sentence is passed on as
    soon as text after it begins (a cut needs it anyway); one that ends in a line break
    waits for the next text or the end of the stream. A sentence that starts a new line
    keeps its line break in front (two after a blank line), so lists, paragraphs and
    quotes survive the " ".join of the released sentences.
    """
    buffer, newlines, first = "", 0, True
    held: str | None = None  # a complete sentence that may still be the final one
    for piece in pieces:
        buffer += piece
        last = 0
        for m in _SENTENCE_END.finditer(buffer):
            sentence = buffer[last : m.start()].strip()
            if sentence:
                if held is not None:
                    yield held, False
                held = ("" if first else "\n" * min(newlines, 2)) + sentence
                first, newlines = False, 0
            newlines += m.group(0).count("\n")
            last = m.end()
        buffer = buffer[last:]
        if held is not None and buffer.strip():
            yield held, False
            held = None
    tail = buffer.strip()
    if held is not None:
        yield held, not tail
    if tail:
        yield ("" if first else "\n" * min(newlines, 2)) + tail, True


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


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000

"""Step 4 of the question path: the answer, released one sentence at a time.

``Answerer.stream`` generates the answer (when the answer model writes the question's
language) or quotes the course material, and yields it one sentence at a time: a sentence
is released only after the output guard has passed it with the question and the sentences
just before it (the final sentence after the whole answer as well: ``OUTPUT_GUARD_WINDOW``)
and, for a generated answer, after grounding (app/grounding.py). It returns the ``Reply``
to store (app/services/turn.py). ``AskService`` (app/services/ask.py) runs it between
retrieval and finishing; the texts the student reads instead of an answer live here too.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

from app.generation import load_prompt
from app.grounding import Grounder, extract_sentences
from app.retrieval import RetrievedPassage
from app.services.i18n import N_, Translator
from app.services.turn import Clock, Release, Reply, Turn, elapsed_ms
from core.errors import KatederError, Unavailable

log = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=\S)|\n+")
_CITATION = re.compile(r"\[(\d{1,2})\]")


# What the student reads in the question's language, through the Babel catalogues
# (app/services/i18n.py): the language is the turn's, not the request's (the CLI and the API ask
# too).
_NOT_COVERED = N_(
    "Your course material does not cover this, so I can't answer it. Try asking your teacher."
)
# quotes (a language the answer model cannot write, or nothing it wrote was supported): said plainly
_QUOTE_LABEL = N_(
    "I found this in your course material. Here are the sentences, copied exactly as they are "
    "written:"
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


class Answerer:
    """Generates or quotes the answer and releases what the output guard and grounding pass."""

    def __init__(self, services, *, on_failure: Callable[[Turn, Exception], None]) -> None:
        """Use the shared components of ``services``; ``on_failure`` records a failed component."""
        self.s = services
        self.on_failure = on_failure
        self.system_prompt = load_prompt("answer_system.txt")
        self.user_template = load_prompt("answer_user.txt")
        self.min_support = float(services.config.get("GROUNDING_MIN_SUPPORT", 0.5))
        # sentences the output guard reads before releasing one (the new one included); 0: the whole
        # answer
        self.guard_window = max(0, int(services.config.get("OUTPUT_GUARD_WINDOW", 3)))

    def stream(
        self, turn: Turn, passages: list[RetrievedPassage], clock: Clock
    ) -> Generator[dict[str, Any], None, Reply]:
        """Yield the released sentences (and a refusal); return the reply to store."""
        # from here on only the redacted text is used: no personal identifier reaches the answer
        # model, the output guard or the quotes, whichever backend (local or remote) they run on
        relevant = [p for p in passages if p.relevant]
        release = yield from self._release_answer(turn, relevant, clock)
        if release.blocked:
            output = release.output
            # only the output guard's verdict blocks (_output_guard)
            if output is None:  # pragma: no cover
                raise RuntimeError("the answer was blocked without an output verdict")
            refusal = output.message or not_covered_message(turn.language)
            yield {"type": "refusal", "text": refusal, "action": output.action}
            text = " ".join([*release.released, refusal]).strip()
            action, mode = (
                output.action,
                ("crisis" if output.action == "crisis" else "refusal"),
            )
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
        """Generate (the model knows the language) or quote; fall back to quotes when nothing was
        supported.
        """
        mode, pieces = self._first_source(turn, relevant)
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
                    stages.append((self._fall_back_to_quotes(turn, release, relevant), None))
        except KatederError:
            raise
        except Exception as exc:  # the model server or the model failed: say so, keep the record
            self.on_failure(turn, exc)
            raise Unavailable(unavailable_message("model", turn.language)) from exc
        finally:  # a stopped answer stops the model (and frees it for the next question) now
            close = getattr(pieces, "close", None)
            if close is not None:
                close()
        clock.timings["generation"] = max(0.0, elapsed_ms(t_gen) - release.guard_ms)
        clock.timings["output_guard"] = release.guard_ms
        if release.first_sentence_at is not None:
            clock.timings["first_sentence"] = release.first_sentence_at
        return release

    def _first_source(
        self, turn: Turn, relevant: list[RetrievedPassage]
    ) -> tuple[str, Iterator[str]]:
        """The answer's mode and its text pieces: not covered, generated or quoted."""
        if not relevant:
            return "not_covered", iter([not_covered_message(turn.language) + "\n"])
        if turn.language in self.s.generator.info.languages:
            return "generated", self._generate(turn.question, relevant, list(turn.history))
        quotes = self._quotes(turn.question, relevant, turn.language, context=_context(turn))
        return "extractive", quotes

    def _fall_back_to_quotes(
        self, turn: Turn, release: Release, relevant: list[RetrievedPassage]
    ) -> Iterator[str]:
        """Nothing the model wrote was supported (or it wrote nothing): quote the material."""
        if not release.grounding["checked"]:  # not one sentence came back: a broken stream
            log.warning(
                "the model returned no text for a question in course %s; answering "
                "with quotes (an OpenAI-compatible server started without "
                "--interrupt_requests False?)",
                turn.course_id,
            )
        release.mode = "extractive"
        return self._quotes(turn.question, relevant, turn.language, context=_context(turn))

    def _release_sentences(
        self,
        turn: Turn,
        release: Release,
        *,
        stage: Iterator[str],
        ground: Grounder | None,
        clock: Clock,
    ) -> Iterator[dict[str, Any]]:
        """Output guard (a window of the answer; the whole answer before its final sentence), then
        grounding.
        """
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
                release.first_sentence_at = elapsed_ms(clock.started)
            yield {"type": "sentence", "text": sentence}
        # the stream ended on a sentence grounding removed: the released answer has not been read
        # whole yet
        if release.released and release.read_whole < len(release.released):
            self._output_guard(turn, release, list(release.released), final=True)

    def _output_guard(
        self, turn: Turn, release: Release, sentences: list[str], *, final: bool
    ) -> bool:
        """The output guard before the last of ``sentences`` is released; True when it read them
        all.

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
        release.guard_ms += elapsed_ms(t)
        release.guard_checks += 1
        release.blocked = not release.output.allowed
        return whole

    def _generate(
        self,
        question: str,
        passages: list[RetrievedPassage],
        history: list[tuple[str, str]],
    ) -> Iterator[str]:
        """Stream the model's answer from a compact prompt with the fixed part first."""
        sources = "\n".join(f"[{i}] {p.text}" for i, p in enumerate(passages, 1))
        messages: list[tuple[str, str]] = [("system", self.system_prompt)]
        for old_q, old_a in history[-1:]:
            messages += [("human", old_q), ("ai", old_a)]
        messages.append(("human", self.user_template.format(sources=sources, question=question)))
        return self.s.generator.stream(messages)

    def _quotes(
        self,
        question: str,
        passages: list[RetrievedPassage],
        language: str,
        context: str = "",
    ) -> Iterator[str]:
        """The extractive answer as a stream of lines."""
        return iter(
            line + "\n" for line in self._extract(question, passages, language, context=context)
        )

    def _extract(
        self,
        question: str,
        passages: list[RetrievedPassage],
        language: str,
        context: str = "",
    ) -> list[str]:
        """The best supporting sentences, quoted in their own language with citations (``context``:
        a follow-up's subject).
        """
        label = Translator.for_language(language)(_QUOTE_LABEL)
        quotes = extract_sentences(question, passages, language, context=context)
        return [label] + [f"«{sentence}» [{number}]" for sentence, number in quotes]

    def _citations(
        self, answer: str, passages: list[RetrievedPassage], fallback: bool = True
    ) -> list[dict[str, Any]]:
        """Citations for the [n] markers in the answer; the best passage when the model
        gave none.
        """
        if not passages:
            return []
        numbers = [int(n) for n in _CITATION.findall(answer) if 1 <= int(n) <= len(passages)]
        if not numbers and fallback:
            numbers = [1]
        return [passages[n - 1].citation(n) for n in dict.fromkeys(numbers)]


def _context(turn: Turn) -> str:
    """A follow-up's subject for the quotes: the previous question of the conversation
    (redacted).
    """
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

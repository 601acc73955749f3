"""Fakes at Kateder's own interfaces (Guard, Embedder, Generator) for fast tests.

They are deterministic stand-ins for the models, never for the wiring: the database,
Chroma, the ingestion pipeline and the ask service under test are the real ones.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator, Sequence

from app.generation import ModelInfo
from app.retrieval import tokenize
from guard.types import Message, Role, Verdict

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


class HashingEmbedder:
    """Bag-of-content-words vectors hashed into 256 dimensions: same words, similar vectors."""

    name = "fake-hashing-256"
    dimension = 256

    def _vec(self, text: str) -> list[float]:
        v = [0.0] * self.dimension
        for word in tokenize(text):
            h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
            v[h % self.dimension] += 1.0
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / norm for x in v]

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """Embed passages."""
        return [self._vec(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        """Embed a query."""
        return self._vec(text)


class KeywordGuard:
    """Flags any message containing one of ``words`` with the given categories."""

    name = "fake-keyword"

    def __init__(self, words: dict[str, tuple[str, ...]] | None = None, fail: bool = False) -> None:
        """``words`` maps a lower-case trigger to S-codes; ``fail`` makes every call raise."""
        self.words = words if words is not None else {"bomb": ("S9",), "kill myself": ("S11",)}
        self.fail = fail
        self.calls: list[tuple[Role, str]] = []

    def classify(self, conversation: Sequence[Message], *, role: Role) -> Verdict:
        """Unsafe if the last message contains a trigger word."""
        text = conversation[-1].content
        self.calls.append((role, text))
        if self.fail:
            raise TimeoutError("guard backend timed out")
        cats = tuple(
            dict.fromkeys(c for w, codes in self.words.items() if w in text.lower() for c in codes)
        )
        return Verdict(
            safe=not cats,
            categories=cats,
            score=0.99 if cats else 0.01,
            backend=self.name,
            model="fake",
        )


class SplitHarmGuard:
    """Flags an answer that holds every one of ``parts``: harm that no single sentence carries.

    Only answers are judged (the agent turn after the student's question); questions and
    course material pass, so the parts may be ordinary words of the demo material.
    ``fail`` makes the check that would flag raise instead (a guard that times out there).
    """

    name = "fake-split-harm"

    def __init__(self, parts: Sequence[str], fail: bool = False) -> None:
        """``parts``: lower-case phrases that are harmful only together."""
        self.parts = tuple(parts)
        self.fail = fail
        self.answers: list[str] = []  # the answer texts checked, in order

    def classify(self, conversation: Sequence[Message], *, role: Role) -> Verdict:
        """Unsafe (S9) if the answer contains all the parts."""
        text = conversation[-1].content
        is_answer = role == "agent" and len(conversation) > 1
        if is_answer:
            self.answers.append(text)
        harmful = is_answer and all(p in text.lower() for p in self.parts)
        if harmful and self.fail:
            raise TimeoutError("guard backend timed out")
        cats = ("S9",) if harmful else ()
        return Verdict(
            safe=not cats,
            categories=cats,
            score=0.99 if cats else 0.01,
            backend=self.name,
            model="fake",
        )


class EchoGenerator:
    """Answers with the first sentence of source [1], cited, streamed word by word."""

    info = ModelInfo("fake-echo", ("en",), "none")

    def __init__(self, answer: str | None = None) -> None:
        """A fixed ``answer`` overrides the echo."""
        self.answer = answer
        self.prompts: list[list[tuple[str, str]]] = []
        self.active = 0  # streams started and not yet finished or closed (the model is busy)

    def stream(self, messages: Sequence[tuple[str, str]]) -> Iterator[str]:
        """Yield the answer in small pieces, like a model would."""
        self.prompts.append(list(messages))
        text = self.answer
        if text is None:
            prompt = messages[-1][1]
            m = re.search(r"\[1\] (.+?[.!?])(\s|$)", prompt)
            text = (m.group(1) + " [1]") if m else "I do not know."
        self.active += 1
        try:
            for i in range(0, len(text), 7):
                yield text[i : i + 7]
        finally:
            self.active -= 1

"""The producer side of the ingestion pipeline: split -> scan, in batches of passages.

:func:`scanned_batches` splits a document's segments into passages (numbered across the
document) and checks each one with the guard, so that a held passage is stored but never
embedded; :func:`within_text_limit` stops a document with more text than allowed, and
:func:`in_producer_thread` runs the batches in a thread of their own while the caller embeds
(``INGEST_OVERLAP``, see ``bench/ingest_speed.py``). :class:`~ingest.pipeline.IngestPipeline`
consumes the batches.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from ingest.errors import IngestError
from ingest.loaders import Segment
from ingest.split import Chunk, Splitter

T = TypeVar("T")


@dataclass(frozen=True)
class Scanned:
    """A passage with the guard's decision: ``held_reason`` is None when it may be searched."""

    chunk: Chunk
    held_reason: str | None
    verdict: Any
    segment_index: int  # the segment it came from, for progress


def within_text_limit(segments: Iterable[Segment], max_chars: int, name: str) -> Iterator[Segment]:
    """The segments, stopping with a clear error once the document has more text than allowed."""
    chars = 0
    for seg in segments:
        chars += len(seg.text)
        if chars > max_chars:
            raise IngestError("too_much_text", name=name, limit=f"{max_chars:,}")
        yield seg


def scanned_batches(
    segments: Iterable[Segment],
    *,
    splitter: Splitter,
    moderator: Any,
    language: str,
    policy_data: dict,
    batch: int,
    max_passages: int,
    name: str = "",
) -> Iterator[list[Scanned]]:
    """Load -> split -> scan, in batches of chunks (the first one small, so the model starts
    early)."""
    from guard.policy import CoursePolicy

    policy = CoursePolicy.from_dict(policy_data)
    out: list[Scanned] = []
    size = min(batch, max(4, batch // 4))
    ordinal = 0
    for index, seg in enumerate(segments):
        for chunk in splitter.split([seg], language):
            if ordinal >= max_passages:
                raise IngestError("too_many_passages", name=name, limit=f"{max_passages:,}")
            chunk = Chunk(
                ordinal,
                chunk.text,
                chunk.page,
                chunk.section,
                chunk.char_start,
                chunk.char_end,
                chunk.language,
            )
            ordinal += 1
            result = moderator.check_material(chunk.text, language=chunk.language, policy=policy)
            reason = None if result.allowed else held_reason(result)
            out.append(Scanned(chunk, reason, result.verdict, index))
            if len(out) >= size:
                yield out
                out, size = [], batch
    if out:
        yield out


def in_producer_thread(items: Iterator[T]) -> Iterator[T]:
    """``items``, made in a producer thread (at most 4 ahead) while the caller consumes them.

    An exception in the producer is raised in the consumer; a consumer that stops early
    stops the producer.
    """
    out: queue.Queue = queue.Queue(maxsize=4)
    stop = threading.Event()
    done = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put(exc)

    worker = threading.Thread(target=work, name="ingest-producer", daemon=True)
    worker.start()
    try:
        while True:
            item = out.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=30)


def held_reason(result) -> str:
    """Why the guard holds a passage, as shown to the teacher who reviews it."""
    cats = ", ".join(result.verdict.categories)
    if result.reason == "injection":
        return "instructions aimed at the model" + (
            f" ({', '.join(result.injection)})" if result.injection else ""
        )
    if result.reason == "error":
        return f"safety check unavailable: {result.verdict.error}"
    return f"{result.reason}: {cats}" if cats else (result.reason or "flagged")

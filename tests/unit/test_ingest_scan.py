"""The producer side of ingestion (ingest/scan.py): text limit, batches, held passages, producer
thread.

Fakes at the splitter and moderator interfaces: one chunk per sentence, and a moderator that
holds any passage containing "DANGER". The integration tests in
tests/integration/test_ingest_pipeline.py run the same code under the whole pipeline.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from ingest.errors import IngestError
from ingest.loaders import Segment
from ingest.scan import in_producer_thread, scanned_batches, within_text_limit
from ingest.split import Chunk


class SentenceSplitter:
    """One chunk per ". "-separated sentence, numbered from 0 in each call (as Splitter.split)."""

    def split(self, segments, default_language="en"):
        for seg in segments:
            for n, text in enumerate(s for s in seg.text.split(". ") if s):
                yield Chunk(n, text, seg.page, seg.section, 0, len(text), default_language)


class DangerModerator:
    """Holds every passage with "DANGER" in it, as the guard would an unsafe one."""

    def check_material(self, text, *, language, policy):
        unsafe = "DANGER" in text
        verdict = SimpleNamespace(categories=["S9"] if unsafe else [], error=None)
        return SimpleNamespace(
            allowed=not unsafe, reason="unsafe" if unsafe else None, verdict=verdict, injection=()
        )


def _batches(segments, *, batch=8, max_passages=100):
    return list(
        scanned_batches(
            segments,
            splitter=SentenceSplitter(),
            moderator=DangerModerator(),
            language="en",
            policy_data={},
            batch=batch,
            max_passages=max_passages,
            name="notes.md",
        )
    )


def test_batches_number_passages_across_the_document_and_hold_the_unsafe_ones():
    segments = [
        Segment("One. Two. Three", page=1),
        Segment("DANGER here. Five. Six. Seven", page=2),
        Segment("Eight. Nine", page=3),
    ]
    batches = _batches(segments)
    # the first batch is small, so embedding starts early
    assert [len(b) for b in batches] == [4, 5]
    scanned = [x for b in batches for x in b]
    assert [x.chunk.ordinal for x in scanned] == list(range(9))
    assert [x.segment_index for x in scanned] == [0, 0, 0, 1, 1, 1, 1, 2, 2]
    held = [x for x in scanned if x.held_reason is not None]
    assert [x.chunk.text for x in held] == ["DANGER here"]
    assert held[0].held_reason == "unsafe: S9" and held[0].chunk.page == 2


def test_too_many_passages_stop_the_document():
    with pytest.raises(IngestError) as err:
        _batches([Segment("a. b. c. d. e")], max_passages=4)
    assert err.value.code == "too_many_passages"


def test_text_over_the_limit_stops_after_the_segments_within_it():
    seen = []
    with pytest.raises(IngestError) as err:
        for seg in within_text_limit([Segment("x" * 6), Segment("y" * 5)], 10, "big.txt"):
            seen.append(seg.text)
    assert err.value.code == "too_much_text" and seen == ["x" * 6]


def test_producer_thread_keeps_order_and_hands_its_error_to_the_consumer():
    threads = set()

    def items():
        for n in range(10):
            threads.add(threading.current_thread().name)
            yield n
        raise IngestError("too_much_text", name="a.txt", limit="1")

    got = []
    with pytest.raises(IngestError):
        for n in in_producer_thread(items()):
            got.append(n)
    assert got == list(range(10)) and threads == {"ingest-producer"}


def test_a_consumer_that_stops_early_stops_the_producer():
    made = []

    def items():
        for n in range(1000):
            made.append(n)
            yield n

    produced = in_producer_thread(items())
    assert next(produced) == 0
    produced.close()  # joins the producer thread
    assert len(made) < 10  # at most the queue (4) and the items in hand were made
    assert not any(t.name == "ingest-producer" for t in threading.enumerate())

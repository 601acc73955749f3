"""Splitting segments into passages of about N words, on sentence boundaries."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.language import detect_language
from ingest.loaders import Segment

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n{2,}")


@dataclass(frozen=True)
class Chunk:
    """A passage with provenance, ready to embed."""

    ordinal: int
    text: str
    page: int | None
    section: str | None
    char_start: int
    char_end: int
    language: str


def split(segments: list[Segment], max_words: int = 150, overlap_words: int = 20) -> list[Chunk]:
    """Greedy sentence packing per segment; a sentence is never cut unless it alone is too long."""
    chunks: list[Chunk] = []
    for seg in segments:
        pieces: list[tuple[int, str]] = []
        pos = 0
        for part in _SENTENCE.split(seg.text):
            idx = seg.text.find(part, pos)
            if part.strip():
                pieces.append((idx, part.strip()))
            pos = idx + len(part)
        current: list[tuple[int, str]] = []
        words = 0
        for idx, sentence in pieces:
            n = len(sentence.split())
            if current and words + n > max_words:
                chunks.append(_make(len(chunks), seg, current))
                keep: list[tuple[int, str]] = []
                kept = 0
                for item in reversed(current):
                    kept += len(item[1].split())
                    if kept > overlap_words:
                        break
                    keep.insert(0, item)
                current, words = keep, sum(len(s.split()) for _, s in keep)
            current.append((idx, sentence))
            words += n
        if current:
            chunks.append(_make(len(chunks), seg, current))
    return chunks


def _make(ordinal: int, seg: Segment, sentences: list[tuple[int, str]]) -> Chunk:
    text = " ".join(s for _, s in sentences)
    start = seg.char_start + sentences[0][0]
    end = seg.char_start + sentences[-1][0] + len(sentences[-1][1])
    return Chunk(ordinal, text, seg.page, seg.section, start, end, detect_language(text))

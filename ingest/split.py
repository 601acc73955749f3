"""Splitting segments into passages measured in the embedding model's tokens (LlamaIndex).

LlamaIndex's ``SentenceSplitter`` packs whole sentences (paragraphs first, then sentences,
then words) up to ``chunk_tokens`` tokens with ``overlap_tokens`` of overlap, counting
with the embedder's tokenizer. Chunks never cross a page, slide or section boundary, so
each keeps exact provenance: page/slide, heading path, offsets, language.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from core.language import detect_language
from ingest.loaders import Segment
from ingest.tokens import Tokenize


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


class Splitter:
    """Token-measured sentence packing per segment."""

    def __init__(
        self, tokenize: Tokenize, chunk_tokens: int = 200, overlap_tokens: int = 30
    ) -> None:
        """Build the LlamaIndex splitter around ``tokenize``."""
        from llama_index.core.node_parser import SentenceSplitter

        self.tokenize = tokenize
        self.chunk_tokens = chunk_tokens
        self._splitter = SentenceSplitter(
            chunk_size=chunk_tokens,
            chunk_overlap=min(overlap_tokens, chunk_tokens // 2),
            tokenizer=tokenize,
            paragraph_separator="\n\n",
        )
        # NLTK's punkt loads on the first text longer than one chunk (seconds): do it now, once
        self._splitter.split_text("Warm up. " * (chunk_tokens + 10))

    def split(self, segments: Iterable[Segment], default_language: str = "en") -> Iterator[Chunk]:
        """Chunks of all segments, numbered across the document."""
        ordinal = 0
        for seg in segments:
            cursor = 0
            for text in self._splitter.split_text(seg.text):
                text = text.strip()
                if not text:
                    continue
                at = seg.text.find(text, cursor)
                if at < 0:  # the splitter normalised whitespace: fall back to the last position
                    at = min(cursor, len(seg.text))
                cursor = at + 1
                start = seg.char_start + at
                yield Chunk(
                    ordinal,
                    text,
                    seg.page,
                    seg.section,
                    start,
                    start + len(text),
                    detect_language(text, default_language),
                )
                ordinal += 1


def split(
    segments: Iterable[Segment],
    tokenize: Tokenize,
    chunk_tokens: int = 200,
    overlap_tokens: int = 30,
) -> list[Chunk]:
    """All chunks of ``segments`` (convenience for tests and scripts)."""
    return list(Splitter(tokenize, chunk_tokens, overlap_tokens).split(segments))

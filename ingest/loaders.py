"""Loaders: bytes of an uploaded file -> text segments with provenance (page, section)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass


class IngestError(ValueError):
    """A clear, user-facing reason why a file cannot be ingested."""


@dataclass(frozen=True)
class Segment:
    """A run of text from one place in a document (a page, a slide, a section)."""

    text: str
    page: int | None = None
    section: str | None = None
    char_start: int = 0


def decode_text(data: bytes) -> str:
    """Decode UTF-8 (with or without BOM), falling back to Latin-1 only for non-UTF-8 bytes."""
    if b"\x00" in data[:4096]:
        raise IngestError("the file looks binary, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def load_text(data: bytes) -> list[Segment]:
    """Plain text: one segment."""
    return [Segment(decode_text(data))]


_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def load_markdown(data: bytes) -> list[Segment]:
    """Markdown: one segment per section, with the heading path as its section."""
    text = decode_text(data)
    segments: list[Segment] = []
    path: list[str] = []
    buf: list[str] = []
    start = 0
    offset = 0

    def flush():
        body = "".join(buf).strip()
        if body:
            segments.append(Segment(body, section=" > ".join(path) or None, char_start=start))

    for line in text.splitlines(keepends=True):
        m = _HEADING.match(line)
        if m:
            flush()
            buf = []
            level = len(m.group(1))
            path = path[: level - 1] + [m.group(2)]
            start = offset + len(line)
        else:
            buf.append(line)
        offset += len(line)
    flush()
    return segments


LOADERS: dict[str, Callable[[bytes], list[Segment]]] = {
    ".txt": load_text,
    ".md": load_markdown,
    ".markdown": load_markdown,
}


def load(filename: str, data: bytes) -> list[Segment]:
    """Choose the loader by extension and run it."""
    ext = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    loader = LOADERS.get(ext)
    if loader is None:
        raise IngestError(f"unsupported file type {ext or '(none)'}; supported: {', '.join(sorted(LOADERS))}")
    return loader(data)

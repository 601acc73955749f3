"""Loaders: the bytes of a validated upload -> text segments with provenance.

A segment is one page (PDF), one slide (PPTX, ``page`` is the slide number) or one
section under a heading path (DOCX, ODT, HTML, Markdown). Loaders yield lazily, so a long
PDF is split and embedded while its later pages are still being read. They use the same
libraries as LlamaIndex's file readers (pypdf, python-docx, python-pptx) but keep heading
paths and slide titles, read from memory, and turn every parser failure into a clear
:class:`IngestError`.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from ingest.errors import IngestError

__all__ = [
    "IngestError",
    "LOADERS",
    "Segment",
    "decode_text",
    "load",
    "open_document",
    "with_offsets",
]

SEPARATOR = "\n\n"  # between segments in the document's extracted text (offsets count it)


@dataclass(frozen=True)
class Segment:
    """A run of text from one place in a document (a page, a slide, a section)."""

    text: str
    page: int | None = None
    section: str | None = None
    char_start: int = 0


def decode_text(data: bytes, name: str = "file") -> str:
    """Decode UTF-8/UTF-16 (with BOM), else Windows-1252, else Latin-1."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise IngestError("corrupt", name=name) from None
    if b"\x00" in data[:8192]:
        raise IngestError("binary_text", name=name)
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise IngestError("corrupt", name=name)  # unreachable: latin-1 decodes anything


_SPACES = re.compile(r"[ \t\u00a0]+")
_BLANKS = re.compile(r"\n\s*\n\s*(\n\s*)+")


def tidy(text: str) -> str:
    """Collapse runs of spaces and blank lines; drop NULs."""
    text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    return _BLANKS.sub("\n\n", _SPACES.sub(" ", text)).strip()


# ---------------------------------------------------------------- plain text and Markdown


def load_text(data: bytes, name: str) -> Iterator[Segment]:
    """Plain text: one segment."""
    yield Segment(tidy(decode_text(data, name)))


_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def load_markdown(data: bytes, name: str) -> Iterator[Segment]:
    """Markdown: one segment per section, with the heading path as its section."""
    text = decode_text(data, name)
    sections = _Sections()
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        m = None if fenced else _HEADING.match(line)
        if m:
            sections.heading(len(m.group(1)), m.group(2))
        else:
            sections.add(line)
    yield from sections.finish()


class _Sections:
    """Collects text under a heading path; one segment per heading."""

    def __init__(self) -> None:
        self.path: list[tuple[int, str]] = []
        self.buf: list[str] = []
        self.out: list[Segment] = []

    def heading(self, level: int, title: str) -> None:
        self.flush()
        title = " ".join(title.split())[:150]
        if title:
            self.path = [(lvl, t) for lvl, t in self.path if lvl < level] + [(level, title)]

    def add(self, text: str) -> None:
        self.buf.append(text)

    def flush(self) -> None:
        body = tidy("\n".join(self.buf))
        self.buf = []
        if body:
            self.out.append(Segment(body, section=" > ".join(t for _, t in self.path) or None))

    def finish(self) -> list[Segment]:
        self.flush()
        return self.out


# ---------------------------------------------------------------- PDF


def open_pdf(data: bytes, name: str) -> tuple[int, Iterator[Segment]]:
    """Open a PDF now (errors early); its pages' text layers are read lazily, 1-based."""
    from pypdf import PdfReader

    if b"%%EOF" not in data[-2048:]:
        raise IngestError("corrupt", name=name)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                unlocked = reader.decrypt("")  # owner-password-only PDFs open without a password
            except Exception:  # noqa: BLE001 - any failure to decrypt means: password needed
                unlocked = 0
            if not unlocked:
                raise IngestError("encrypted", name=name)
        pages = list(reader.pages)
    except IngestError:
        raise
    except Exception:  # noqa: BLE001 - pypdf raises many types for damaged files
        raise IngestError("corrupt", name=name) from None

    def read() -> Iterator[Segment]:
        for number, page in enumerate(pages, start=1):
            try:
                text = page.extract_text() or ""
            except Exception:  # noqa: BLE001
                raise IngestError("corrupt", name=name) from None
            yield Segment(_unwrap(tidy(text)), page=number)

    return len(pages), read()


_HYPHEN_BREAK = re.compile(r"(\w)-\n(?=[a-zåäöæøüß])")
_LINE_BREAK = re.compile(r"(?<!\n)\n(?!\n)")


def _unwrap(text: str) -> str:
    """Join a PDF's wrapped lines (and words hyphenated across them); keep paragraph breaks."""
    return _LINE_BREAK.sub(" ", _HYPHEN_BREAK.sub(r"\1", text))


def load_pdf(data: bytes, name: str) -> Iterator[Segment]:
    """PDF text layer, one segment per page."""
    return open_pdf(data, name)[1]


# ---------------------------------------------------------------- DOCX

_HEADING_STYLE = re.compile(
    r"(?:heading|rubrik|überschrift|titolo|overskrift)\s*(\d)", re.IGNORECASE
)


def load_docx(data: bytes, name: str) -> Iterator[Segment]:
    """Word: paragraphs and tables in body order, sections by heading style."""
    try:
        from docx import Document as open_docx
        from docx.oxml.ns import qn
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        doc = open_docx(io.BytesIO(data))
        sections = _Sections()
        for child in doc.element.body.iterchildren():
            if child.tag == qn("w:p"):
                para = Paragraph(child, doc)
                level = _docx_heading_level(para)
                if level:
                    sections.heading(level, para.text)
                else:
                    sections.add(para.text)
            elif child.tag == qn("w:tbl"):
                for row in Table(child, doc).rows:
                    cells = list(dict.fromkeys(c.text.strip() for c in row.cells if c.text.strip()))
                    sections.add(" | ".join(cells))
        segments = sections.finish()
    except IngestError:
        raise
    except Exception:  # noqa: BLE001 - python-docx/lxml errors on damaged files
        raise IngestError("corrupt", name=name) from None
    yield from segments


def _docx_heading_level(para) -> int:
    """1-9 for headings (by style name or outline level), 0 for body text."""
    style = para.style
    names = (
        [getattr(style, "name", "") or "", getattr(style, "style_id", "") or ""]
        if style is not None
        else []
    )
    for style_name in names:
        if style_name.lower() == "title":
            return 1
        m = _HEADING_STYLE.search(style_name)
        if m:
            return max(1, int(m.group(1)))
    return 0


# ---------------------------------------------------------------- PPTX


def load_pptx(data: bytes, name: str) -> Iterator[Segment]:
    """PowerPoint: one segment per slide (``page`` = slide number, ``section`` = its title)."""
    try:
        from pptx import Presentation

        prs = Presentation(io.BytesIO(data))
        slides = list(prs.slides)
    except Exception:  # noqa: BLE001
        raise IngestError("corrupt", name=name) from None
    for number, slide in enumerate(slides, start=1):
        try:
            title_shape = slide.shapes.title
            title = (
                title_shape.text_frame.text.strip()
                if title_shape is not None and title_shape.has_text_frame
                else ""
            )
            parts = [t for t in _shape_texts(slide.shapes, skip=title_shape) if t.strip()]
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                notes = slide.notes_slide.notes_text_frame.text.strip()
                if notes:
                    parts.append(notes)
        except Exception:  # noqa: BLE001
            raise IngestError("corrupt", name=name) from None
        body = tidy("\n".join(([title] if title else []) + parts))
        yield Segment(body, page=number, section=" ".join(title.split())[:150] or None)


def _shape_texts(shapes, skip=None) -> Iterator[str]:
    for shape in shapes:
        if skip is not None and shape.shape_id == skip.shape_id:
            continue
        if shape.shape_type == 6:  # group
            yield from _shape_texts(shape.shapes)
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            yield shape.text_frame.text
        elif getattr(shape, "has_table", False) and shape.has_table:
            for row in shape.table.rows:
                yield " | ".join(c.text.strip() for c in row.cells if c.text.strip())


# ---------------------------------------------------------------- HTML

_HTML_BLOCK = {
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "table",
    "tr",
    "td",
    "th",
    "pre",
    "blockquote",
    "section",
    "article",
    "br",
    "dd",
    "dt",
    "figcaption",
    "caption",
    "header",
    "footer",
    "main",
    "hr",
}
_HTML_HEADINGS = {f"h{i}": i for i in range(1, 7)}


def sanitise_html(html: str) -> str:
    """HTML without scripts, styles, event handlers or javascript: URLs (nh3/ammonia)."""
    import nh3

    return nh3.clean(
        html,
        clean_content_tags={
            "script",
            "style",
            "noscript",
            "template",
            "iframe",
            "object",
            "head",
            "title",
        },
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def load_html(data: bytes, name: str) -> Iterator[Segment]:
    """HTML, sanitised first; sections by h1-h6."""
    import lxml.html

    clean = sanitise_html(decode_text(data, name))
    if not clean.strip():
        return
    try:
        root = lxml.html.fromstring(clean)
    except Exception:  # noqa: BLE001 - lxml.etree.ParserError on junk
        raise IngestError("corrupt", name=name) from None
    sections = _Sections()
    buf: list[str] = []

    def text(value: str | None) -> None:
        if value:
            buf.append(value.replace("\n", " ").replace("\t", " "))

    def walk(el) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag == "head":
            return
        if tag in _HTML_HEADINGS:
            sections.add("".join(buf))
            buf.clear()
            sections.heading(_HTML_HEADINGS[tag], el.text_content())
            return
        if tag in _HTML_BLOCK:
            buf.append(_BREAK)
        text(el.text)
        for child in el:
            walk(child)
            text(child.tail)
        if tag in _HTML_BLOCK:
            buf.append(_BREAK)

    walk(root)
    sections.add("".join(buf))
    for seg in sections.finish():
        paragraphs = (" ".join(p.split()) for p in seg.text.split(_BREAK))
        body = "\n\n".join(p for p in paragraphs if p)
        if body:
            yield replace(seg, text=body)


_BREAK = "\x1e"


# ---------------------------------------------------------------- ODT

_ODF = {
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
}


def load_odt(data: bytes, name: str) -> Iterator[Segment]:
    """OpenDocument text: paragraphs, lists and tables; sections by outline level."""
    from lxml import etree

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            xml = zf.read("content.xml")
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        root = etree.fromstring(xml, parser)
    except Exception:  # noqa: BLE001
        raise IngestError("corrupt", name=name) from None
    text_ns, table_ns = "{{{}}}".format(_ODF["text"]), "{{{}}}".format(_ODF["table"])
    body = root.find(f"{{{_ODF['office']}}}body/{{{_ODF['office']}}}text")
    sections = _Sections()

    def walk(el) -> None:
        for child in el:
            tag = child.tag
            if tag == f"{text_ns}h":
                sections.heading(
                    int(child.get(f"{text_ns}outline-level", "1") or 1), "".join(child.itertext())
                )
            elif tag == f"{text_ns}p":
                sections.add("".join(child.itertext()))
            elif tag == f"{table_ns}table-row":
                sections.add(
                    " | ".join(
                        "".join(c.itertext()).strip()
                        for c in child
                        if "".join(c.itertext()).strip()
                    )
                )
            elif isinstance(tag, str):
                walk(child)

    if body is not None:
        walk(body)
    yield from sections.finish()


# ---------------------------------------------------------------- dispatch

LOADERS: dict[str, Callable[[bytes, str], Iterator[Segment]]] = {
    "pdf": load_pdf,
    "docx": load_docx,
    "pptx": load_pptx,
    "odt": load_odt,
    "html": load_html,
    "markdown": load_markdown,
    "text": load_text,
}


def with_offsets(segments: Iterable[Segment]) -> Iterator[Segment]:
    """Give each non-empty segment its offset in the document's extracted text."""
    offset = 0
    for seg in segments:
        if not seg.text.strip():
            continue
        yield replace(seg, char_start=offset)
        offset += len(seg.text) + len(SEPARATOR)


def open_document(fmt: str, data: bytes, name: str) -> tuple[int, Iterator[Segment]]:
    """Open a validated file: (number of pages/slides/sections, lazily read segments with offsets).

    Encrypted and damaged files fail here, before any work is done.
    """
    if fmt == "pdf":
        count, segments = open_pdf(data, name)
        return count, with_offsets(segments)
    items = list(LOADERS[fmt](data, name))
    return len(items), with_offsets(iter(items))


def load(fmt: str, data: bytes, name: str) -> list[Segment]:
    """All segments of a validated file of format ``fmt`` with document-wide offsets."""
    return list(open_document(fmt, data, name)[1])

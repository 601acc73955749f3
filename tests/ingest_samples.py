"""Course material generated in memory for ingestion tests and the benchmark (no binary
fixtures)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence


def pdf(pages: Sequence[str], *, encrypt: str | None = None, scanned: bool = False) -> bytes:
    """A PDF with one page per text (wrapped); ``scanned`` draws shapes only (no text layer)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, encrypt=encrypt, invariant=1)
    width, height = A4
    for text in pages:
        if scanned:
            for i in range(20):
                c.rect(50, height - 60 - i * 30, 400 - i * 7, 12, fill=1)
        else:
            t = c.beginText(50, height - 60)
            t.setFont("Helvetica", 10)
            for paragraph in text.split("\n\n"):
                line = ""
                for word in paragraph.split():
                    if len(line) + len(word) > 95:
                        t.textLine(line)
                        line = ""
                    line = f"{line} {word}".strip()
                t.textLine(line)
                t.textLine("")
            c.drawText(t)
        c.showPage()
    c.save()
    return buf.getvalue()


def docx(sections: Sequence[tuple[int, str, str]], table: Sequence[Sequence[str]] = ()) -> bytes:
    """A Word document from (heading level, heading, body) triples and an optional table."""
    from docx import Document

    d = Document()
    for level, heading, body in sections:
        d.add_heading(heading, level=level)
        for paragraph in body.split("\n\n"):
            d.add_paragraph(paragraph)
    if table:
        t = d.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                t.cell(r, c).text = cell
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def pptx(slides: Sequence[tuple[str, str]], notes: dict[int, str] | None = None) -> bytes:
    """A presentation from (title, body) pairs; ``notes`` maps slide index to speaker notes."""
    from pptx import Presentation

    prs = Presentation()
    layout = prs.slide_layouts[1]
    for i, (title, body) in enumerate(slides):
        slide = prs.slides.add_slide(layout)
        slide.shapes.title.text = title
        slide.placeholders[1].text_frame.text = body
        if notes and i in notes:
            slide.notes_slide.notes_text_frame.text = notes[i]
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


def odt(sections: Sequence[tuple[int, str, str]]) -> bytes:
    """A minimal OpenDocument text with headings (outline levels) and paragraphs."""
    from xml.sax.saxutils import escape

    body = "".join(
        f'<text:h text:outline-level="{lvl}">{escape(h)}</text:h>'
        + "".join(f"<text:p>{escape(p)}</text:p>" for p in b.split("\n\n"))
        for lvl, h, b in sections
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" office:version="1.2">'
        f"<office:body><office:text>{body}</office:text></office:body></office:document-content>"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(
            "mimetype", "application/vnd.oasis.opendocument.text", compress_type=zipfile.ZIP_STORED
        )
        zf.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def zip_bomb(base: bytes, member: str = "word/media/filler.xml", size: int = 4_000_000) -> bytes:
    """``base`` (a DOCX/PPTX) with an extra member of ``size`` zero bytes (ratio ~1000:1)."""
    buf = io.BytesIO(base)
    with zipfile.ZipFile(buf, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, b"\0" * size)
    return buf.getvalue()


PHOTOSYNTHESIS = (
    "Photosynthesis is the process by which green plants turn light into chemical energy. "
    "It takes place in the chloroplasts, which contain the green pigment chlorophyll. "
    "Plants take in carbon dioxide through small openings called stomata and water through "
    "their roots. "
    "The light reactions split water and release oxygen as a by-product."
)
VIKINGS_SV = (
    "Vikingatiden varade ungefär från år 793 till 1066. Vikingarna kom från Skandinavien och "
    "reste långt med sina långskepp. De handlade med pälsar, järn och slavar och grundade "
    "städer som Birka."
)
WATER_DE = (
    "Der Wasserkreislauf beschreibt, wie das Wasser auf der Erde verdunstet, Wolken bildet und als "
    "Regen oder Schnee wieder auf die Erde fällt. Die Sonne liefert die Energie für die "
    "Verdunstung."
)


def filler(topic: str, sentences: int, seed: int = 0) -> str:
    """Varied English sentences about ``topic`` (for long documents)."""
    verbs = [
        "describes",
        "explains",
        "compares",
        "illustrates",
        "summarises",
        "questions",
        "connects",
        "reviews",
    ]
    objects = [
        "the energy balance",
        "the historical sources",
        "an experiment in class",
        "a common misconception",
        "the role of temperature",
        "the key vocabulary",
        "a worked example",
        "the evidence for it",
    ]
    out = []
    for i in range(sentences):
        k = seed * 7 + i
        out.append(
            f"Paragraph {seed}.{i} {verbs[k % len(verbs)]} {topic} and "
            f"{objects[(k * 3) % len(objects)]} in some detail."
        )
    return " ".join(out)

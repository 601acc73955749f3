"""The report's layout: one self-contained HTML page and an A4 PDF, from the same sections."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from app.services.dpia.sections import ReportData, Table, sections
from app.services.i18n import Translator

STYLE = (
    "body{font-family:sans-serif;max-width:60rem;margin:2rem auto;line-height:1.45;color:#222}"
    "table{border-collapse:collapse;width:100%;margin:.6rem 0}"
    "td,th{border:1px solid #bbb;padding:.3rem .5rem;text-align:left;"
    "vertical-align:top;font-size:.92em}th{background:#eef1f5}h1{margin-bottom:.2rem}"
    "h2{border-bottom:2px solid #334;padding-bottom:.2rem;margin-top:2rem}img{max-width:100%}"
    ".broken{color:#a00;font-weight:bold}"
    "@media print{body{margin:0;max-width:none}h2{break-after:avoid}_,img{break-inside:avoid}}"
)


def _html_block(kind: str, value: Any, charts: dict[str, bytes]) -> str:
    """One block as HTML (empty for a chart that was not drawn)."""
    e = html.escape
    if kind in ("p", "warn"):
        return f"<p class='broken'>{e(value)}</p>" if kind == "warn" else f"<p>{e(value)}</p>"
    if kind == "list":
        return "<ul>" + "".join(f"<li>{e(x)}</li>" for x in value) + "</ul>"
    if kind == "table":
        return (
            "<table><tr>"
            + "".join(f"<th>{e(h)}</th>" for h in value.header)
            + "</tr>"
            + "".join(
                "<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in row) + "</tr>"
                for row in value.rows
            )
            + "</table>"
        )
    if kind == "img" and value in charts:
        data = base64.b64encode(charts[value]).decode()
        return f"<img alt='{e(value)}' src='data:image/png;base64,{data}'>"
    return ""


def render_report_html(r: ReportData, charts: dict[str, bytes], _: Translator) -> str:
    """The report as one self-contained HTML page (charts embedded), in ``tr``'s language."""
    e = html.escape
    title = _("Kateder: audit export and DPIA support")
    parts = [
        f"<!doctype html><html lang='{e(_.language)}'><head><meta charset='utf-8'>"
        f"<title>{e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{e(title)}</h1><p>{e(r.rop['controller'])} · "
        f"{e(_.date(r.meta['from']))} – {e(_.date(r.meta['to']))}</p>",
    ]
    for heading, blocks in sections(r, _):
        parts.append(f"<h2>{e(heading)}</h2>")
        parts += [_html_block(kind, value, charts) for kind, value in blocks]
    parts.append("</body></html>")
    return "\n".join(parts)


def _pdf_fonts() -> tuple[str, str]:
    """DejaVu Sans when installed (covers every school language), else Helvetica."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    base = Path("/usr/share/fonts/truetype/dejavu")
    regular, bold = base / "DejaVuSans.ttf", base / "DejaVuSans-Bold.ttf"
    if regular.exists() and bold.exists():
        try:
            pdfmetrics.registerFont(TTFont("KatederSans", str(regular)))
            pdfmetrics.registerFont(TTFont("KatederSans-Bold", str(bold)))
            return "KatederSans", "KatederSans-Bold"
        except Exception:  # noqa: BLE001 - a broken font file: fall back to the built-in font
            pass
    return "Helvetica", "Helvetica-Bold"


def _pdf_styles(regular: str, bold: str) -> dict[str, Any]:
    """Paragraph styles of the PDF: body, table cell and header, headings, warning."""
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

    sheet = getSampleStyleSheet()
    body = ParagraphStyle(
        "body", parent=sheet["BodyText"], fontName=regular, fontSize=9.5, leading=12.5
    )
    return {
        "body": body,
        "cell": ParagraphStyle("cell", parent=body, fontSize=8, leading=10),
        "head": ParagraphStyle("head", parent=body, fontName=bold, fontSize=8, leading=10),
        "h1": ParagraphStyle("h1", parent=sheet["Title"], fontName=bold, fontSize=17, leading=21),
        "h2": ParagraphStyle(
            "h2",
            parent=sheet["Heading2"],
            fontName=bold,
            fontSize=12.5,
            leading=16,
            spaceBefore=10,
            textColor=colors.HexColor("#223355"),
            keepWithNext=1,
        ),
        "warn": ParagraphStyle(
            "warn", parent=body, textColor=colors.HexColor("#aa0000"), fontName=bold
        ),
    }


def _pdf_table(table: Table, width: float, st: dict[str, Any]) -> list[Any]:
    """A table block as a reportlab table with a repeated header row."""
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Spacer, TableStyle
    from reportlab.platypus import Table as PdfTable

    e = html.escape
    data = [[Paragraph(e(h), st["head"]) for h in table.header]] + [
        [Paragraph(e(str(c)), st["cell"]) for c in row] for row in table.rows
    ]
    n = len(table.header)
    fractions = table.widths if table.widths and len(table.widths) == n else (1 / n,) * n
    out = PdfTable(data, colWidths=[width * f for f in fractions], repeatRows=1)
    out.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6eaf0")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return [out, Spacer(1, 5)]


def _pdf_block(
    kind: str, value: Any, charts: dict[str, bytes], width: float, st: dict[str, Any]
) -> list[Any]:
    """One block as PDF flowables."""
    from reportlab.platypus import Image, ListFlowable, ListItem, Paragraph, Spacer

    e = html.escape
    if kind in ("p", "warn"):
        return [Paragraph(e(value), st["warn" if kind == "warn" else "body"]), Spacer(1, 3)]
    if kind == "list":
        return [
            ListFlowable(
                [ListItem(Paragraph(e(x), st["body"]), leftIndent=10) for x in value],
                bulletType="bullet",
                start="•",
                leftIndent=10,
            )
        ]
    if kind == "table":
        return _pdf_table(value, width, st)
    if kind == "img" and value in charts:
        return [
            Image(io.BytesIO(charts[value]), width=width * 0.85, height=width * 0.85 * 3.2 / 7),
            Spacer(1, 4),
        ]
    return []


def render_report_pdf(r: ReportData, charts: dict[str, bytes], _: Translator) -> bytes:
    """The report as a PDF (reportlab), A4, with page numbers, in ``tr``'s language."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import cm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    regular, bold = _pdf_fonts()
    st = _pdf_styles(regular, bold)
    meta, width, title = r.meta, A4[0] - 4 * cm, _("Kateder: audit export and DPIA support")
    story: list[Any] = [
        Paragraph(html.escape(title), st["h1"]),
        Paragraph(
            html.escape(
                f"{r.rop['controller']} · {_.date(meta['from'])} – {_.date(meta['to'])} (UTC)"
            ),
            st["body"],
        ),
        Spacer(1, 6),
    ]
    for heading, blocks in sections(r, _):
        story.append(Paragraph(html.escape(heading), st["h2"]))
        for kind, value in blocks:
            story += _pdf_block(kind, value, charts, width, st)
    footer_text = _(
        "Kateder audit export · generated %(when)s (UTC) · chain head %(head)s",
        when=_.datetime(meta["generated_at"]),
        head=(meta["chain"].get("head") or "n/a")[:16],
    )

    def footer(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(regular, 7.5)
        canvas.drawString(2 * cm, 1.2 * cm, footer_text)
        canvas.drawRightString(A4[0] - 2 * cm, 1.2 * cm, _("page %(n)s", n=doc.page))
        canvas.restoreState()

    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=2 * cm,
        rightMargin=2 * cm,
        topMargin=1.8 * cm,
        bottomMargin=2 * cm,
        title=title,
        author="Kateder",
        subject="DPIA support pack",
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()

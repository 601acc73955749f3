"""Safe HTML for answers and course material: a small Markdown subset,
never raw HTML or foreign links.

markdown-it-py with every rule off except paragraphs, line breaks, lists, bold and italics,
inline code, headings and tables; ``html`` is off, so every ``<`` a model or a document
writes stays text. No link, image or autolink rule is on: the only links and buttons are
the ones this module adds (citation buttons, and each quote's place in the document).
Highlights are put in as two private-use characters before rendering and turned into
``<mark>`` after it (they are removed from the input first).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from typing import Any

from flask_babel import gettext as _
from markdown_it import MarkdownIt
from markupsafe import Markup, escape

from app.grounding import passage_sentences
from app.retrieval_terms import terms

_OPEN, _CLOSE = "\ue000", "\ue001"  # highlight start and end, until rendered as <mark>
_MARKER = re.compile(r"\[(\d{1,2})\]")
_QUOTE = re.compile(r"^«(.+)»((?:\s*\[\d{1,2}\])*)\s*$")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _parser(heading_shift: int) -> MarkdownIt:
    """The safe parser; headings are moved down by ``heading_shift`` levels (at most h6)."""
    md = MarkdownIt("zero", {"breaks": True, "html": False, "linkify": False})
    md.enable(["list", "heading", "table", "emphasis", "newline", "escape", "backticks"])

    def heading(self, tokens, idx, options, env) -> str:
        level = min(6, int(tokens[idx].tag[1]) + heading_shift)
        return f"<h{level}>" if tokens[idx].nesting == 1 else f"</h{level}>\n"

    md.add_render_rule("heading_open", heading)
    md.add_render_rule("heading_close", heading)
    return md


_ANSWER_MD = _parser(3)  # inside an answer (its heading is an h3): h4 and below
_DOCUMENT_MD = _parser(2)  # in the document view (h1 title, h2 sections): h3 and below


def _clean(text: str | None) -> str:
    """Input text without our highlight characters, and without spaces before line breaks."""
    text = (text or "").replace(_OPEN, "").replace(_CLOSE, "")
    return re.sub(r"[ \t]+\n", "\n", text).strip()


def _marks(html: str) -> str:
    return html.replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")


def quote_key(sentence: str) -> str:
    """A short key for a quoted sentence, so the document view can
    highlight it (no text in the address).
    """
    return hashlib.sha256(" ".join(sentence.split()).encode()).hexdigest()[:12]


def highlight_terms(sentence: str, question: str, language: str | None) -> str:
    """``sentence`` with the words that carry the question's terms
    wrapped in highlight characters.
    """
    wanted = set(terms(question, language)) if question else set()
    if not wanted:
        return sentence
    return _WORD.sub(
        lambda m: (
            f"{_OPEN}{m.group(0)}{_CLOSE}"
            if set(terms(m.group(0), language)) & wanted
            else m.group(0)
        ),
        sentence,
    )


def _cite_buttons(html: str, numbers: set[int]) -> str:
    """``[n]`` markers (in already escaped HTML) as buttons that open
    source n; unknown numbers stay text.
    """

    def button(m: re.Match) -> str:
        n = int(m.group(1))
        if n not in numbers:
            return m.group(0)
        return (
            f'<button type="button" class="cite" data-cite="{n}" '
            f'aria-label="{escape(_("Source"))} {n}">{n}</button>'
        )

    return _MARKER.sub(button, html)


def markdown(text: str | None) -> Markup:
    """Safe HTML for a piece of course material (a passage) or any Markdown text."""
    return Markup(_DOCUMENT_MD.render(_clean(text)))


def answer_html(
    text: str | None,
    citations: Sequence[dict[str, Any]] = (),
    *,
    question: str = "",
    language: str | None = None,
    place: Callable[[dict[str, Any], str], str] | None = None,
) -> Markup:
    """An answer as safe HTML: Markdown, ``[n]`` as citation buttons,
    quotes as marked-up blockquotes.

    A quote line (``«sentence» [n]``, see ``app/services/ask.py``) becomes a blockquote in
    which the words carrying the question's terms are highlighted, followed by a link to the
    quoted sentence in its document (``place(citation, quote_key)`` gives the address).
    """
    by_number = {int(c["number"]): c for c in citations}
    numbers = set(by_number)
    out: list[str] = []
    plain: list[str] = []

    def flush() -> None:
        if plain:
            out.append(_cite_buttons(_ANSWER_MD.render("\n".join(plain)), numbers))
            plain.clear()

    for line in _clean(text).split("\n"):
        m = _QUOTE.match(line.strip())
        if m is None:
            plain.append(line)
            continue
        flush()
        quote = _quote(
            m.group(1),
            [int(n) for n in _MARKER.findall(m.group(2))],
            by_number,
            question=question,
            language=language,
            place=place,
        )
        out.append(_cite_buttons(quote, numbers))
    flush()
    return Markup("".join(out))


def _quote(
    sentence: str,
    cited: list[int],
    by_number: dict[int, dict[str, Any]],
    *,
    question: str,
    language: str | None,
    place: Callable[[dict[str, Any], str], str] | None,
) -> str:
    """One quoted sentence as a blockquote with its highlights,
    citation and place in the document.
    """
    body = _marks(_ANSWER_MD.renderInline(highlight_terms(sentence, question, language)))
    markers = " ".join(f"[{n}]" for n in cited)
    html = f'<blockquote class="quote"><p>«{body}» {markers}</p>'
    source = next((by_number[n] for n in cited if n in by_number), None)
    if source is not None and place is not None and source.get("document_id"):
        link = _(
            "See it in the text: %(document)s",
            document=source.get("label") or source.get("document") or "",
        )
        html += (
            f'<p class="quote-place"><a href="{escape(place(source, quote_key(sentence)))}">'
            f"{escape(link)}</a></p>"
        )
    return html + "</blockquote>\n"


def source_labels(citations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The citations with a ``label`` each: the document name and page,
    told apart when two are the same.

    Two sources with the same name and page get their section (the last part of the
    heading path) when the sections differ, else a number in brackets ("(2)").
    """
    labelled = [dict(c) for c in citations]

    def section(c: dict[str, Any]) -> str:
        last = (c.get("section") or "").split(" > ")[-1].strip()
        return "" if last == (c.get("document") or "") else last

    for c in labelled:
        c["label"] = c.get("document") or _("Source")
        if c.get("page"):
            c["label"] += ", " + _("page %(page)s", page=c["page"])
    for label in {c["label"] for c in labelled}:
        twins = [c for c in labelled if c["label"] == label]
        if len(twins) > 1 and len({section(c) for c in twins}) > 1:
            for c in twins:
                if section(c):
                    c["label"] = f"{label} · {section(c)}"
    seen: dict[str, int] = {}
    for c in labelled:
        seen[c["label"]] = seen.get(c["label"], 0) + 1
        if seen[c["label"]] > 1:
            c["label"] = f"{c['label']} ({seen[c['label']]})"
    return labelled


def document_html(
    passages: Sequence[dict[str, Any]],
    *,
    title: str,
    cited: str | None = None,
    mark: str | None = None,
) -> Markup:
    """The visible passages of a document as one page, the cited passage highlighted.

    ``passages`` (in order) have ``id``, ``text``, ``section``, ``page``, ``char_start``
    and ``char_end``. Overlap between neighbouring passages is shown once (the cited
    passage is always shown whole). A section heading is shown when it changes, a page
    number when the page changes; ``mark`` (a :func:`quote_key`) highlights that sentence
    of the cited passage.
    """
    texts = [p["text"] for p in passages]
    for i in range(1, len(passages)):
        before, p = passages[i - 1], passages[i]
        k = int(before.get("char_end") or 0) - int(p.get("char_start") or 0)
        same = before.get("section") == p.get("section") and before.get("page") == p.get("page")
        if not same or k <= 0 or k >= len(p["text"]) or not before["text"].endswith(p["text"][:k]):
            continue
        if p["id"] == cited and len(texts[i - 1]) > k:
            texts[i - 1] = texts[i - 1][
                : len(texts[i - 1]) - k
            ].rstrip()  # the cited passage stays whole
        elif len(texts[i]) > k:
            texts[i] = texts[i][k:].lstrip()
    out: list[str] = []
    section, page = None, None
    for p, raw in zip(passages, texts, strict=True):
        text = _clean(raw)
        if p.get("page") and p.get("page") != page:
            page = p["page"]
            out.append(f'<p class="page-number">{escape(_("page %(page)s", page=page))}</p>\n')
        heading = (p.get("section") or "").split(" > ")[-1].strip()
        if p.get("section") != section:
            section = p.get("section")
            if heading and heading != title:
                out.append(f"<h2>{escape(heading)}</h2>\n")
        if not text:
            continue
        is_cited = p["id"] == cited
        if is_cited and mark:
            for sentence in passage_sentences(text):
                if quote_key(sentence) == mark:
                    at = text.find(sentence)
                    text = f"{text[:at]}{_OPEN}{sentence}{_CLOSE}{text[at + len(sentence) :]}"
                    break
        body = _marks(_DOCUMENT_MD.render(text))
        if is_cited:
            label = escape(_("Your answer comes from here"))
            out.append(
                f'<section class="passage cited" id="passage-{escape(p["id"])}" '
                f'aria-label="{label}">'
                f'<p class="cited-label">{label}</p>{body}</section>\n'
            )
        else:
            out.append(f'<div class="passage" id="passage-{escape(p["id"])}">{body}</div>\n')
    return Markup("".join(out))

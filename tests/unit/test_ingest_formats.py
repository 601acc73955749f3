"""Loaders and splitter: every format yields text with provenance (page, slide, heading path,
offsets)."""

from __future__ import annotations

import pytest

from core.language import detect_language
from ingest import loaders, validate
from ingest.split import split
from ingest.tokens import build_tokenize
from tests import ingest_samples as S


def _load(name: str, data: bytes) -> list[loaders.Segment]:
    return loaders.load(validate.check(name, data), data, name)


def test_pdf_pages_are_numbered_and_wrapped_lines_joined():
    segs = _load("bio.pdf", S.pdf([S.PHOTOSYNTHESIS, S.VIKINGS_SV, S.WATER_DE]))
    assert [s.page for s in segs] == [1, 2, 3]
    assert "chloroplasts, which contain the green pigment chlorophyll" in segs[0].text
    assert "Birka" in segs[1].text and "Verdunstung" in segs[2].text


def test_docx_keeps_heading_path_and_tables():
    data = S.docx(
        [
            (1, "Plants", S.PHOTOSYNTHESIS),
            (2, "Light reactions", "Water is split."),
            (1, "Vikings", S.VIKINGS_SV),
        ],
        table=[["Ship", "Use"], ["Knarr", "Trade"]],
    )
    segs = _load("notes.docx", data)
    assert [s.section for s in segs] == ["Plants", "Plants > Light reactions", "Vikings"]
    assert "Knarr | Trade" in segs[-1].text


def test_pptx_one_segment_per_slide_with_title_and_notes():
    segs = _load(
        "deck.pptx",
        S.pptx([("Vikings", S.VIKINGS_SV), ("Water", S.WATER_DE)], notes={1: "Ask about clouds."}),
    )
    assert [(s.page, s.section) for s in segs] == [(1, "Vikings"), (2, "Water")]
    assert "Ask about clouds." in segs[1].text


def test_html_is_sanitised_and_split_by_headings():
    html = (
        b"<html><head><title>x</title><script>alert('head')</script></head><body onload='steal()'>"
        b"<h1>Plants</h1><p onclick='evil()'>Green <b>plants</b> make sugar.</p>"
        b"<script>document.cookie</script>"
        b"<h2>Light</h2><p><a href='javascript:alert(1)'>Light</a> drives it.</p>"
        b"<img src=x onerror=alert(1)></body></html>"
    )
    segs = _load("page.html", html)
    assert [s.section for s in segs] == ["Plants", "Plants > Light"]
    text = " ".join(s.text for s in segs)
    assert "Green plants make sugar." in text
    for bad in ("alert", "cookie", "steal", "evil", "onerror", "javascript"):
        assert bad not in text
    clean = loaders.sanitise_html(html.decode())
    assert (
        "<script" not in clean
        and "onclick" not in clean
        and "onerror" not in clean
        and "javascript:" not in clean
    )


def test_markdown_sections_ignore_headings_in_code_fences():
    md = (
        b"# Atoms\nAtoms are small.\n```\n# not a heading\n```\n## Nucleus\nProtons and neutrons.\n"
    )
    segs = _load("atoms.md", md)
    assert [s.section for s in segs] == ["Atoms", "Atoms > Nucleus"]
    assert "# not a heading" in segs[0].text


def test_odt_outline_levels_become_heading_path():
    segs = _load(
        "notes.odt", S.odt([(1, "Plants", S.PHOTOSYNTHESIS), (2, "Light", "Light drives it.")])
    )
    assert [s.section for s in segs] == ["Plants", "Plants > Light"]


def test_text_in_windows_1252_is_decoded():
    segs = _load("notes.txt", "Vikingarna seglade över havet till Grönland.".encode("cp1252"))
    assert segs[0].text == "Vikingarna seglade över havet till Grönland."


def test_chunks_fit_the_token_budget_with_offsets_and_language():
    tokenize = build_tokenize({"EMBEDDER": "minilm"})
    text = "\n\n".join(
        [S.filler("photosynthesis", 30, seed=i) for i in range(3)]
        + [S.VIKINGS_SV * 3, S.WATER_DE * 3]
    )
    segs = loaders.load("text", text.encode(), "long.txt")
    chunks = split(segs, tokenize, chunk_tokens=120, overlap_tokens=20)
    assert len(chunks) > 5
    assert all(len(tokenize(c.text)) <= 120 for c in chunks)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    for c in chunks:
        assert text[c.char_start : c.char_end] == c.text
    assert {c.language for c in chunks} >= {"en", "sv", "de"}
    assert chunks[-1].language == detect_language(S.WATER_DE)


def test_chunk_offsets_are_document_wide_across_pages():
    segs = _load("bio.pdf", S.pdf([S.PHOTOSYNTHESIS, S.VIKINGS_SV]))
    full = loaders.SEPARATOR.join(s.text for s in segs)
    chunks = split(segs, build_tokenize({}), chunk_tokens=60, overlap_tokens=10)
    assert {c.page for c in chunks} == {1, 2}
    for c in chunks:
        assert full[c.char_start : c.char_end] == c.text


@pytest.mark.parametrize(
    "name", ["a.pdf", "a.docx", "a.pptx", "a.odt", "a.html", "a.htm", "a.md", "a.txt"]
)
def test_every_supported_extension_has_a_loader(name):
    assert validate.FORMATS[validate.extension(name)] in loaders.LOADERS

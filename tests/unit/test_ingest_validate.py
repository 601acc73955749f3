"""Bad input gets a clear, coded error before any parser runs (or as soon as it fails)."""

from __future__ import annotations

import pytest

from ingest import loaders, validate
from ingest.errors import MESSAGES, IngestError
from tests import ingest_samples as S


def _open(name: str, data: bytes, limits: validate.Limits | None = None) -> list:
    name = validate.safe_filename(name)
    fmt = validate.check(name, data, limits)
    count, segments = loaders.open_document(fmt, data, name)
    return list(segments)


def _code(name: str, data: bytes, limits: validate.Limits | None = None) -> str:
    with pytest.raises(IngestError) as info:
        _open(name, data, limits)
    return info.value.code


def test_extension_lying_about_content_is_rejected():
    docx = S.docx([(1, "A", "text")])
    assert _code("notes.pdf", docx) == "mismatch"
    assert _code("slides.pptx", docx) == "mismatch"
    assert _code("notes.txt", S.pdf(["text"])) == "mismatch"
    assert _code("page.html", b"\x89PNG\r\n\x1a\n" + b"\0" * 100) == "mismatch"
    assert _code("notes.md", b"abc\x00\x01\x02" * 10) == "binary_text"
    assert _code("virus.exe", b"MZ\x90\x00") == "unsupported"
    assert _code("old.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600) == "legacy_office"


def test_encrypted_pdf_is_rejected_but_owner_only_protection_is_not():
    assert _code("secret.pdf", S.pdf(["secret text"], encrypt="pw")) == "encrypted"
    from reportlab.lib import pdfencrypt

    owner_only = S.pdf(
        ["Open to read, locked to edit."],
        encrypt=pdfencrypt.StandardEncryption("", ownerPassword="owner"),
    )
    assert "locked to edit" in _open("owner.pdf", owner_only)[0].text


@pytest.mark.parametrize(
    "name,make",
    [
        ("cut.pdf", lambda: S.pdf([S.PHOTOSYNTHESIS] * 3)[:900]),
        ("cut.docx", lambda: S.docx([(1, "A", S.PHOTOSYNTHESIS)])[:3000]),
        ("cut.pptx", lambda: S.pptx([("A", S.PHOTOSYNTHESIS)])[:5000]),
        ("junk.pdf", lambda: b"%PDF-1.4\n" + b"garbage " * 200 + b"\n%%EOF\n"),
        ("junk.odt", lambda: b"PK\x03\x04" + b"\x00" * 300),
    ],
)
def test_corrupt_and_truncated_files_are_rejected(name, make):
    assert _code(name, make()) == "corrupt"


def test_scanned_pdf_yields_no_text_and_the_message_names_ocr():
    assert all(not s.text for s in _open("scan.pdf", S.pdf(["x", "y"], scanned=True)))
    message = IngestError("no_text_layer", name="scan.pdf").message("en")
    assert "OCR is not available" in message
    assert "OCR" in IngestError("no_text_layer", name="scan.pdf").message("sv")


def test_zip_bombs_are_rejected_by_ratio_and_by_total_size():
    assert _code("bomb.docx", S.zip_bomb(S.docx([(1, "A", "text")]))) == "zip_bomb"
    assert (
        _code("bomb.pptx", S.zip_bomb(S.pptx([("A", "text")]), member="ppt/media/x.xml"))
        == "zip_bomb"
    )
    small = validate.Limits(max_unzipped_bytes=50_000)
    assert _code("big.docx", S.docx([(1, "A", "text")]), small) == "zip_bomb"


def test_size_limit_and_empty_file():
    assert _code("big.txt", b"a" * 2001, validate.Limits(max_bytes=2000)) == "too_large"
    with pytest.raises(IngestError) as info:
        validate.check("huge.pdf", bytes(50 * 1024 * 1024 + 1))
    assert info.value.code == "too_large" and info.value.status == 413
    assert _code("empty.txt", b"") == "empty"
    assert _code("empty.pdf", b"") == "empty"


@pytest.mark.parametrize(
    "name,code",
    [
        ("../../etc/passwd.txt", "name_path"),
        ("..\\..\\boot.ini.txt", "name_path"),
        ("/abs/path.md", "name_path"),
        ("..", "name_path"),
        ("notes\x00.txt", "name_control"),
        ("notes\n.txt", "name_control"),
        ("evil\u202etxt.exe", "name_control"),
        ("", "name_missing"),
        ("   ", "name_missing"),
        ("...", "name_unusable"),
    ],
)
def test_bad_file_names_are_rejected(name, code):
    with pytest.raises(IngestError) as info:
        validate.safe_filename(name)
    assert info.value.code == code


def test_safe_names_are_kept_readable():
    assert validate.safe_filename("Fotosyntes – kapitel 3.pdf") == "Fotosyntes _ kapitel 3.pdf"
    assert validate.safe_filename("Übung (2).docx") == "Übung (2).docx"


def test_every_message_exists_in_all_five_languages():
    for code, (status, table) in MESSAGES.items():
        assert set(table) == {"en", "sv", "de", "it", "nb"}, code
        assert 400 <= status < 600
        fields = {
            f
            for f in (
                "name",
                "size",
                "limit",
                "ext",
                "supported",
                "actual",
                "detail",
                "course",
                "document",
                "job",
                "passage",
                "attempts",
            )
            if "{" + f + "}" in table["en"]
        }
        for lang, text in table.items():
            assert {f for f in fields if "{" + f + "}" in text} == fields, (code, lang)

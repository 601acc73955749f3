"""Checks that run before any parser sees an upload: name, size, magic bytes, zip bombs.

The format is decided by the extension and confirmed by the content: an extension that
lies about the content is rejected, never parsed as something else.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass

from ingest.errors import IngestError

# extension -> format
FORMATS: dict[str, str] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
    ".odt": "odt",
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
}
MIME_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "html": "text/html",
    "markdown": "text/markdown",
    "text": "text/plain",
}
_TEXT_FORMATS = {"html", "markdown", "text"}
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a program"),
    (b"Rar!", "a RAR archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
)
_SAFE = re.compile(r"[^\w.\- ()]+", re.UNICODE)


@dataclass(frozen=True)
class Limits:
    """Size limits for uploads and for what an Office/ODF zip may expand to."""

    max_bytes: int = 50 * 1024 * 1024
    max_unzipped_bytes: int = 300 * 1024 * 1024
    max_ratio: float = 120.0
    max_entries: int = 20_000

    @classmethod
    def from_config(cls, config) -> Limits:
        """Limits from ``MAX_UPLOAD_BYTES``, ``MAX_UNZIPPED_BYTES`` and ``MAX_ZIP_RATIO``."""
        return cls(
            max_bytes=int(config.get("MAX_UPLOAD_BYTES", cls.max_bytes)),
            max_unzipped_bytes=int(config.get("MAX_UNZIPPED_BYTES", cls.max_unzipped_bytes)),
            max_ratio=float(config.get("MAX_ZIP_RATIO", cls.max_ratio)),
        )


def safe_filename(name: str | None) -> str:
    """A display file name without directories, control characters or traversal."""
    if not name or not name.strip():
        raise IngestError("name_missing")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        raise IngestError("name_control")
    parts = name.replace("\\", "/").split("/")
    if len(parts) > 1 or parts[0] in {".", ".."}:
        raise IngestError("name_path")
    cleaned = _SAFE.sub("_", unicodedata.normalize("NFC", parts[0])).strip(" .")
    if not cleaned or cleaned.startswith("."):
        raise IngestError("name_unusable")
    if len(cleaned) > 200:
        stem, dot, ext = cleaned.rpartition(".")
        cleaned = (stem[:190] + dot + ext[:9]) if dot else cleaned[:200]
    return cleaned


def extension(name: str) -> str:
    """The lower-case extension with its dot, or ``""``."""
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def sniff(data: bytes) -> str:
    """What the bytes look like: pdf, docx, pptx, odt, zip, ole, text or a description."""
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = set(zf.namelist())
                if "word/document.xml" in names:
                    return "docx"
                if "ppt/presentation.xml" in names:
                    return "pptx"
                if "mimetype" in names and zf.read("mimetype")[:60].startswith(
                    b"application/vnd.oasis.opendocument.text"
                ):
                    return "odt"
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            return "a damaged zip archive"
        return "a zip archive"
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    head = data[:8192]
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "binary data"
    return "text"


_DESCRIBE = {
    "pdf": "a PDF",
    "docx": "a Word document",
    "pptx": "a PowerPoint file",
    "odt": "an OpenDocument text",
    "text": "text",
    "ole": "an old or password-protected Office file",
}


def check(name: str, data: bytes, limits: Limits | None = None) -> str:
    """Validate an upload; return its format or raise :class:`IngestError` with the reason."""
    limits = limits or Limits()
    if not data:
        raise IngestError("empty", name=name)
    if len(data) > limits.max_bytes:
        raise IngestError(
            "too_large",
            name=name,
            size=f"{len(data) / 1e6:.1f}",
            limit=f"{limits.max_bytes / 1e6:.0f}",
        )
    ext = extension(name)
    fmt = FORMATS.get(ext)
    if fmt is None:
        raise IngestError(
            "unsupported", name=name, ext=ext or "-", supported=", ".join(sorted(FORMATS))
        )
    actual = sniff(data)
    if actual == "ole" and fmt in ("docx", "pptx", "odt"):
        raise IngestError("legacy_office", name=name)
    if fmt in _TEXT_FORMATS:
        if actual == "binary data":
            raise IngestError("binary_text", name=name)
        if actual != "text":
            raise IngestError("mismatch", name=name, ext=ext, actual=_DESCRIBE.get(actual, actual))
    elif actual != fmt:
        if actual == "a damaged zip archive" or (
            fmt == "pdf" and actual == "text" and b"%PDF" in data[:2048]
        ):
            raise IngestError("corrupt", name=name)
        raise IngestError("mismatch", name=name, ext=ext, actual=_DESCRIBE.get(actual, actual))
    if fmt in ("docx", "pptx", "odt"):
        check_zip(name, data, limits)
    return fmt


def check_zip(name: str, data: bytes, limits: Limits) -> None:
    """Reject zips that expand beyond the limits (total size, ratio, entry count) or are damaged."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > limits.max_entries:
                raise IngestError("zip_bomb", name=name, detail=f"{len(infos)} entries")
            total = 0
            for info in infos:
                total += info.file_size
                if info.flag_bits & 0x1:
                    raise IngestError("legacy_office", name=name)
                ratio = info.file_size / max(1, info.compress_size)
                if info.file_size > 1_000_000 and ratio > limits.max_ratio:
                    raise IngestError(
                        "zip_bomb", name=name, detail=f"compression ratio {ratio:.0f}:1"
                    )
            if total > limits.max_unzipped_bytes:
                raise IngestError("zip_bomb", name=name, detail=f"{total / 1e6:.0f} MB unpacked")
            if zf.testzip() is not None:
                raise IngestError("corrupt", name=name)
    except IngestError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError, NotImplementedError):
        raise IngestError("corrupt", name=name) from None

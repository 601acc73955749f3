"""Originals stored content-addressed in the instance folder."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from pathlib import Path

from ingest.loaders import IngestError

_SAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def safe_filename(name: str) -> str:
    """A display file name without directories, control characters or traversal."""
    if not name or not name.strip():
        raise IngestError("the file has no name")
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise IngestError("the file name contains control characters")
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    if base in {"", ".", ".."} or ".." in name.replace("\\", "/").split("/"):
        raise IngestError("the file name must not contain a path")
    cleaned = _SAFE.sub("_", unicodedata.normalize("NFC", base)).strip(" .")
    if not cleaned:
        raise IngestError("the file name has no usable characters")
    return cleaned[:200]


class FileStore:
    """Files kept under ``<root>/<hash[:2]>/<hash>``; writes are atomic."""

    def __init__(self, root: str | Path) -> None:
        """Store files below ``root``."""
        self.root = Path(root)

    def path_for(self, digest: str) -> Path:
        """Where the file with this digest lives."""
        return self.root / digest[:2] / digest

    def put(self, data: bytes) -> str:
        """Store ``data`` (write to a temp file, fsync, rename); return its digest."""
        digest = sha256(data)
        target = self.path_for(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: str) -> bytes:
        """The bytes of a stored file."""
        return self.path_for(digest).read_bytes()

    def delete(self, digest: str) -> None:
        """Remove a stored file if present."""
        self.path_for(digest).unlink(missing_ok=True)

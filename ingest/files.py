"""Originals stored content-addressed in the instance folder."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from ingest.validate import safe_filename

__all__ = ["FileStore", "safe_filename", "sha256"]


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


class FileStore:
    """Files kept under ``<root>/<hash[:2]>/<hash>``; writes are atomic."""

    def __init__(self, root: str | Path) -> None:
        """Store files below ``root``."""
        self.root = Path(root)

    def path_for(self, digest: str) -> Path:
        """Where the file with this digest lives (``digest`` must be a SHA-256 hex string)."""
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError("not a SHA-256 digest")
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

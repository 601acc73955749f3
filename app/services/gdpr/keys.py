"""Envelope keys: each user's data key, wrapped by a master key outside the database; sealing and
opening text.

Each user's question and answer text is redacted of personal identifiers and sealed with
AES-256-GCM under that user's own data key. The data key is stored only wrapped (AES-GCM)
by a master key kept outside the database (``KATEDER_MASTER_KEY`` or
``<HOME>/secrets/master.key``). Destroying the data key is crypto-shredding: every copy of
the text, in backups too, becomes unreadable.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db import Database, rowcount
from app.services.audit.log import _secret_file
from core.models import Conversation, Message, SubjectKey
from guard.pii import redact

SEALED_VERSION = b"\x01"
TEXT_STORAGE = ("encrypted", "plain", "none")


class KeyRing:
    """Per-user AES-256-GCM data keys, stored wrapped by a master key outside the database.

    A file-backed master key can be rotated (:meth:`rotate`): every data key is re-wrapped
    and the old master key is overwritten, so database backups taken before the rotation
    can no longer be unwrapped. Erasure rotates, which makes its crypto-shredding reach
    backups too. Other processes notice the new key file by its modification time.
    """

    def __init__(self, master_key: bytes | None = None, *, path: Path | None = None) -> None:
        """Use a fixed ``master_key`` (32 bytes), or the key file at ``path``."""
        if master_key is not None and len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes (64 hex characters)")
        self.path = path
        self._static = AESGCM(master_key) if master_key is not None else None
        self._loaded: tuple[tuple[float, float], list[AESGCM]] | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> KeyRing:
        """Master key from ``MASTER_KEY`` (hex) or ``<HOME>/secrets/master.key`` (0600)."""
        if config.get("MASTER_KEY"):
            return cls(bytes.fromhex(config["MASTER_KEY"]))
        path = Path(config["HOME"]) / "secrets" / "master.key"
        _secret_file(path)
        return cls(path=path)

    @property
    def rotatable(self) -> bool:
        """True when the master key lives in a file this process may replace."""
        return self.path is not None

    def _masters(self) -> list[AESGCM]:
        """Master keys to try, the one to wrap new keys with first (a rotation's next key,
        if any).
        """
        if self._static is not None:
            return [self._static]
        if self.path is None:
            raise ValueError("the key ring has neither a master key nor a key file")
        path = self.path
        nxt = path.with_name(path.name + ".next")
        stamp = (path.stat().st_mtime, nxt.stat().st_mtime if nxt.exists() else 0.0)
        with self._lock:
            if self._loaded is None or self._loaded[0] != stamp:
                keys = [
                    AESGCM(bytes.fromhex(p.read_text().strip())) for p in (nxt, path) if p.exists()
                ]
                self._loaded = (stamp, keys)
            return self._loaded[1]

    @staticmethod
    def _aad(kind: str, user_id: int) -> bytes:
        return f"kateder:{kind}:{int(user_id)}".encode()

    def _wrap(self, user_id: int, key: bytes, master: AESGCM | None = None) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + (master or self._masters()[0]).encrypt(
            nonce, key, self._aad("subject-key", user_id)
        )

    def _unwrap(self, user_id: int, blob: bytes, masters: list[AESGCM] | None = None) -> bytes:
        for master in masters or self._masters():
            try:
                return master.decrypt(blob[:12], blob[12:], self._aad("subject-key", user_id))
            except InvalidTag:
                continue
        raise InvalidTag()

    def data_key(self, session: Session, user_id: int, *, create: bool = True) -> bytes | None:
        """The user's data key; a new one on first use, None once destroyed (and not ``create``)."""
        row = session.get(SubjectKey, user_id)
        if row is None:
            if not create:
                return None
            try:
                with session.begin_nested():
                    session.add(
                        SubjectKey(
                            user_id=user_id,
                            wrapped_key=self._wrap(user_id, AESGCM.generate_key(bit_length=256)),
                        )
                    )
            except IntegrityError:  # another writer created it at the same moment
                pass
            row = session.get_one(SubjectKey, user_id, populate_existing=True)
        return self._unwrap(user_id, bytes(row.wrapped_key))

    def seal(self, session: Session, user_id: int, text: str) -> bytes:
        """Encrypt ``text`` under the user's data key."""
        key = self.data_key(session, user_id)
        assert key is not None  # data_key creates a missing key
        nonce = secrets.token_bytes(12)
        return (
            SEALED_VERSION
            + nonce
            + AESGCM(key).encrypt(nonce, text.encode("utf-8"), self._aad("message", user_id))
        )

    def open(self, session: Session, user_id: int, blob: bytes) -> str | None:
        """Decrypt a sealed text; None when the key was destroyed (erased) or the data is
        not ours.
        """
        blob = bytes(blob)
        try:
            key = self.data_key(session, user_id, create=False)
            if key is None or not blob.startswith(SEALED_VERSION):
                return None
            return (
                AESGCM(key)
                .decrypt(blob[1:13], blob[13:], self._aad("message", user_id))
                .decode("utf-8")
            )
        except InvalidTag:
            return None

    def destroy(self, session: Session, user_id: int) -> bool:
        """Delete the user's data key (crypto-shredding); True if there was one."""
        return (
            rowcount(session.execute(delete(SubjectKey).where(SubjectKey.user_id == user_id))) > 0
        )

    def rotate(self, db: Database) -> int | None:
        """Re-wrap every data key under a new master key and overwrite the old one; None if not
        file-backed.
        """
        if self.path is None:
            return None
        old = self._masters()
        nxt = self.path.with_name(self.path.name + ".next")
        nxt.unlink(missing_ok=True)
        new = AESGCM(_secret_file(nxt))  # from now on every process wraps new keys with it
        everything = [new, *old]
        rewrapped = 0
        for _ in range(2):  # a second pass catches keys another process added during the first
            with db.session() as s:
                for row in s.scalars(select(SubjectKey)):
                    blob = bytes(row.wrapped_key)
                    try:
                        new.decrypt(blob[:12], blob[12:], self._aad("subject-key", row.user_id))
                        continue
                    except InvalidTag:
                        pass
                    row.wrapped_key = self._wrap(
                        row.user_id, self._unwrap(row.user_id, blob, everything), new
                    )
                    rewrapped += 1
        os.replace(nxt, self.path)  # the old master key is gone
        return rewrapped


class MessageTexts:
    """How message text is kept (``MESSAGE_TEXT_STORAGE``): sealed under its owner's key, plain, or
    not at all.
    """

    def __init__(self, keys: KeyRing, storage: str = "encrypted") -> None:
        """Seal with ``keys``; ``storage`` is one of :data:`TEXT_STORAGE`."""
        if storage not in TEXT_STORAGE:
            raise ValueError(
                f"MESSAGE_TEXT_STORAGE must be one of {', '.join(TEXT_STORAGE)}, not {storage!r}"
            )
        self.keys = keys
        self.storage = storage

    def fields(self, session: Session, user_id: int, text: str | None) -> dict[str, Any]:
        """``Message`` columns for one text: redacted, then sealed, plain or dropped per policy."""
        if text is None or self.storage == "none":
            return {"text": None, "text_encrypted": None}
        clean, _ = redact(text)
        if self.storage == "plain":
            return {"text": clean, "text_encrypted": None}
        return {"text": None, "text_encrypted": self.keys.seal(session, user_id, clean)}

    def read(self, session: Session, msg: Message, owner_id: int | None = None) -> str | None:
        """A message's text for its owner's own view or a logged access; None if erased or never
        kept.
        """
        if msg.text is not None:
            return msg.text
        if msg.text_encrypted is None:
            return None
        if owner_id is None:
            owner_id = session.scalar(
                select(Conversation.user_id).where(Conversation.id == msg.conversation_id)
            )
        return None if owner_id is None else self.keys.open(session, owner_id, msg.text_encrypted)

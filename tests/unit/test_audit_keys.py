"""Keys outside the database: pseudonyms, per-student data keys, sealed text and the storage
policy."""

from __future__ import annotations

import stat
from types import SimpleNamespace

import pytest
from cryptography.exceptions import InvalidTag

from app.db import Database
from app.services.audit import Pseudonymizer, details_digest, event_body, event_hash
from app.services.gdpr import Gdpr, KeyRing, message
from core.models import SubjectKey


@pytest.fixture
def db(sqlite_url):
    """A migrated SQLite database."""
    database = Database(sqlite_url)
    yield database
    database.dispose()


def test_pseudonyms_are_stable_keyed_and_not_the_id(tmp_path):
    a = Pseudonymizer.from_config({"HOME": str(tmp_path)})
    again = Pseudonymizer.from_config({"HOME": str(tmp_path)})
    other = Pseudonymizer(b"x" * 32)
    assert a.subject(7) == again.subject(7) != a.subject(8)
    assert a.subject(7) != other.subject(7) and len(a.subject(7)) == 32
    key_file = tmp_path / "secrets" / "pseudonym.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert a.subject(None) is None


def test_sealed_text_roundtrip_and_crypto_shredding(db, tmp_path):
    ring = KeyRing.from_config({"HOME": str(tmp_path)})
    assert stat.S_IMODE((tmp_path / "secrets" / "master.key").stat().st_mode) == 0o600
    with db.session() as s:
        blob = ring.seal(s, 1, "Hur fungerar fotosyntesen?")
        assert b"fotosyntes" not in blob
        assert ring.open(s, 1, blob) == "Hur fungerar fotosyntesen?"
        assert ring.open(s, 2, blob) is None  # bound to its owner: another key and associated data
        assert ring.seal(s, 1, "x") != ring.seal(s, 1, "x")  # fresh nonce each time
    with db.session() as s:
        assert ring.destroy(s, 1) is True
    with db.session() as s:
        assert ring.open(s, 1, blob) is None
        assert ring.destroy(s, 1) is False


def test_a_different_master_key_cannot_unwrap(db, tmp_path):
    with db.session() as s:
        KeyRing(b"a" * 32).seal(s, 3, "secret")
    with db.session() as s, pytest.raises(InvalidTag):
        KeyRing(b"b" * 32).data_key(s, 3)
    with pytest.raises(ValueError):
        KeyRing(b"short")


@pytest.mark.parametrize("storage", ["encrypted", "plain", "none"])
def test_storage_policy_redacts_then_seals_keeps_or_drops(db, tmp_path, storage):
    services = SimpleNamespace(
        config={"HOME": str(tmp_path), "MESSAGE_TEXT_STORAGE": storage, "MASTER_KEY": "ab" * 32},
        db=db,
    )
    gdpr = Gdpr(services)
    with db.session() as s:
        fields = gdpr.text_fields(s, 5, "Ring me on +46 70 123 45 67 about cells")
    if storage == "encrypted":
        assert fields["text"] is None and fields["text_encrypted"]
        with db.session() as s:
            assert (
                gdpr.keys.open(s, 5, fields["text_encrypted"]) == "Ring me on [phone] about cells"
            )
    elif storage == "plain":
        assert fields == {"text": "Ring me on [phone] about cells", "text_encrypted": None}
    else:
        assert fields == {"text": None, "text_encrypted": None}


def test_unknown_storage_policy_is_refused(db, tmp_path):
    with pytest.raises(ValueError):
        Gdpr(
            SimpleNamespace(
                config={"HOME": str(tmp_path), "MESSAGE_TEXT_STORAGE": "sometimes"}, db=db
            )
        )


def test_event_hash_commits_to_the_details_digest():
    from datetime import UTC, datetime

    ts = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    digest = details_digest({"a": 1})
    body = event_body(1, ts, "s", "student", 1, 2, "question", None, digest)
    assert "details" not in body and body["details_sha256"] == digest
    assert event_hash("0" * 64, body) != event_hash(
        "0" * 64,
        event_body(1, ts, "s", "student", 1, 2, "question", None, details_digest({"a": 2})),
    )
    legacy = event_body(1, ts, "s", "student", 1, 2, "question", {"a": 1})
    assert legacy["details"] == {"a": 1} and "details_sha256" not in legacy


@pytest.mark.parametrize("language", ["en", "sv", "de", "it", "nb"])
def test_messages_exist_in_every_school_language(language):
    text = message("reason_required", language, n=10)
    assert "10" in text
    assert message("not_allowed", language) != message("not_allowed", "en") or language == "en"


def test_key_file_is_created_once_and_shared(db, tmp_path):
    first = KeyRing.from_config({"HOME": str(tmp_path)})
    second = KeyRing.from_config({"HOME": str(tmp_path)})
    with db.session() as s:
        blob = first.seal(s, 4, "shared")
    with db.session() as s:
        assert second.open(s, 4, blob) == "shared"


def test_rotation_rewraps_live_keys_and_locks_out_old_backups(db, tmp_path):
    ring = KeyRing.from_config({"HOME": str(tmp_path)})
    other_process = KeyRing.from_config({"HOME": str(tmp_path)})
    with db.session() as s:
        blob = ring.seal(s, 9, "before rotation")
        backup = bytes(s.get(SubjectKey, 9).wrapped_key)  # a database backup taken now
    old_master = (tmp_path / "secrets" / "master.key").read_text()
    assert ring.rotate(db) == 1
    assert (tmp_path / "secrets" / "master.key").read_text() != old_master
    assert not (tmp_path / "secrets" / "master.key.next").exists()
    with db.session() as s:
        assert ring.open(s, 9, blob) == "before rotation"
        assert other_process.open(s, 9, blob) == "before rotation"  # picks up the new key file
        s.get(
            SubjectKey, 9
        ).wrapped_key = backup  # restoring the old backup does not bring the text back
    with db.session() as s:
        assert ring.open(s, 9, blob) is None
    assert (
        KeyRing(b"c" * 32).rotate(db) is None
    )  # a key from the environment is rotated by the operator

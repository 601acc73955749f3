"""``kateder reindex``: a course's vectors rebuilt from the database with another embedder."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from app.cli import main
from core.models import Course, Passage
from ingest.reindex import MaterialChanged, reindex_course
from ingest.store import ChromaStore
from tests.fakes import HashingEmbedder


class ReversedEmbedder(HashingEmbedder):
    """Another embedder (reversed words hash elsewhere): its vectors must not mix with the first."""

    name = "fake-reversed-256"

    def _vec(self, text: str) -> list[float]:
        return super()._vec(" ".join(w[::-1] for w in text.split()))


class FailingEmbedder(ReversedEmbedder):
    """Fails on its second batch, like a worker killed half-way."""

    def __init__(self) -> None:
        self.calls = 0

    def embed_documents(self, texts):
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError("embedder crashed")
        return super().embed_documents(texts)


def _course(services, code: str = "SCI7") -> int:
    with services.db.session() as s:
        return s.scalar(select(Course.id).where(Course.code == code))


def _searchable(services, course_id: int) -> int:
    with services.db.session() as s:
        return s.scalar(
            select(func.count())
            .select_from(Passage)
            .where(Passage.course_id == course_id, Passage.status == "indexed")
        )


def _store(services, embedder) -> ChromaStore:
    """A second client on the same Chroma folder, configured for ``embedder``."""
    return ChromaStore(path=services.vector_store.path, embedder_name=embedder.name)


def test_reindex_switches_embedder_and_search_works(services, demo):
    course_id = _course(services)
    other = ReversedEmbedder()
    store = _store(services, other)
    with pytest.raises(RuntimeError, match="reindex"):
        store.query(course_id, other.embed_query("photosynthesis"), 3)

    seen = []
    written = reindex_course(
        services.db, other, store, course_id, batch=4, progress=lambda d, t: seen.append((d, t))
    )

    total = _searchable(services, course_id)
    assert written == total == store.count(course_id)
    assert seen[-1] == (total, total) and len(seen) == -(-total // 4)
    hit = store.query(course_id, other.embed_query("chlorophyll green leaves light"), 1)[0]
    assert "chlorophyll" in hit.text.lower()
    # the old configuration is now the one refused
    with pytest.raises(RuntimeError, match="fake-reversed-256"):
        _store(services, HashingEmbedder()).query(course_id, HashingEmbedder().embed_query("x"), 1)


def test_failed_reindex_keeps_the_old_vectors(services, demo):
    course_id = _course(services)
    before = services.vector_store.count(course_id)
    failing = FailingEmbedder()
    with pytest.raises(RuntimeError, match="embedder crashed"):
        reindex_course(services.db, failing, _store(services, failing), course_id, batch=4)
    fresh = _store(services, HashingEmbedder())  # the original embedder still works
    assert fresh.count(course_id) == before
    assert fresh.query(course_id, HashingEmbedder().embed_query("chlorophyll"), 1)
    assert not any(c.name.endswith("-rebuild") for c in fresh.client.list_collections())


def test_upload_during_reindex_aborts_without_losing_anything(services, demo):
    course_id = _course(services)
    before = services.vector_store.count(course_id)

    def someone_uploads(done: int, total: int) -> None:
        with services.db.session() as s:
            s.execute(
                update(Course)
                .where(Course.id == course_id)
                .values(content_version=Course.content_version + 1)
            )

    other = ReversedEmbedder()
    with pytest.raises(MaterialChanged):
        reindex_course(
            services.db, other, _store(services, other), course_id, progress=someone_uploads
        )
    assert _store(services, HashingEmbedder()).count(course_id) == before


def test_reindex_command(services, demo, app_config, monkeypatch):
    monkeypatch.setenv("KATEDER_HOME", app_config["HOME"])
    monkeypatch.setenv("KATEDER_DATABASE_URL", app_config["DATABASE_URL"])
    monkeypatch.setenv("KATEDER_SECRET_KEY", "test")
    monkeypatch.setenv(
        "KATEDER_EMBEDDER", "minilm"
    )  # the demo was indexed with the fake: a real switch
    runner = CliRunner()

    r = runner.invoke(main, ["reindex"])
    assert r.exit_code == 2 and "--course" in r.output
    r = runner.invoke(main, ["reindex", "--course", "NOPE1"])
    assert r.exit_code != 0 and "NOPE1" in (r.stderr or r.output)

    r = runner.invoke(main, ["reindex", "--course", "SCI7", "--json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.output)
    assert row == {
        "course": "SCI7",
        "passages": _searchable(services, _course(services)),
        "embedder": "all-MiniLM-L6-v2",
    }

    from ingest.embedding import build_embedder

    minilm = build_embedder({"EMBEDDER": "minilm"})
    hit = _store(services, minilm).query(
        _course(services), minilm.embed_query("Why do leaves look green?"), 1
    )[0]
    assert "chlorophyll" in hit.text.lower()

"""Courses sharded over several Chroma servers: routing, moving a course, a server that fails.

Real database and real embedded Chroma folders, one per "server" (the routing store sees
only the VectorStore interface, so a folder stands in for a ``chroma run`` server); a
server that is down is a ChromaStore pointed at a loopback port where nothing listens.
tests/production/test_chroma_servers.py runs the same over two real ``chroma run``
servers, gunicorn and the ``kateder`` command.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, select

from app import create_app
from app.cli import main
from app.db import Database
from app.demo import MATERIAL, create_demo
from app.services import accounts, get_services
from core.models import Course
from ingest.reindex import MaterialChanged, move_to_server
from ingest.routing import (
    Route,
    RoutingStore,
    UnknownServer,
    build_vector_store,
    hashed_server,
    parse_servers,
)
from ingest.store import ChromaStore, collection_name
from tests.production.servers import free_port

QUESTION = "Where does photosynthesis happen?"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", {}),
        ("a=127.0.0.1:8000", {"a": ("127.0.0.1", 8000)}),
        (
            " north = 10.0.0.5:8001 , south=chroma-2.lan:8000,",
            {"north": ("10.0.0.5", 8001), "south": ("chroma-2.lan", 8000)},
        ),
        ("v6=[::1]:8000", {"v6": ("::1", 8000)}),
    ],
)
def test_parse_servers(spec, expected):
    assert parse_servers(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("127.0.0.1:8000", "name=host:port"),
        ("a=127.0.0.1", "name=host:port"),
        ("a=:8000", "name=host:port"),
        ("a=host:port", "name=host:port"),
        ("a>b=127.0.0.1:8000", "letters, digits"),
        ("a=127.0.0.1:8000,a=127.0.0.1:8001", "twice"),
    ],
)
def test_parse_servers_rejects_bad_entries(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_servers(spec)


def test_hashed_server_is_stable_spread_and_independent_of_order():
    picks = [hashed_server(course_id, ["a", "b", "c"]) for course_id in range(1, 301)]
    assert picks == [hashed_server(course_id, ["c", "a", "b"]) for course_id in range(1, 301)]
    assert all(60 <= picks.count(name) <= 140 for name in "abc"), {
        name: picks.count(name) for name in "abc"
    }


def test_route_is_stored_as_old_new_while_moving():
    assert Route.parse("a") == Route("a") and str(Route("a")) == "a"
    assert Route.parse("a>b") == Route("a", "b") and str(Route("a", "b")) == "a>b"


def test_build_vector_store_from_configuration(tmp_path):
    single = build_vector_store(
        {"VECTOR_BACKEND": "chroma-http", "CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": 8123}
    )
    assert isinstance(single, ChromaStore) and single.port == 8123
    routed = build_vector_store(
        {
            "VECTOR_BACKEND": "chroma-http",
            "CHROMA_SERVERS": "a=127.0.0.1:8001,b=127.0.0.2:8002",
            "CHROMA_DEFAULT_SERVER": "b",
        },
        "e5",
        db=object(),
    )
    assert isinstance(routed, RoutingStore) and routed.default == "b"
    assert {n: (s.host, s.port, s.embedder_name) for n, s in routed.stores.items()} == {
        "a": ("127.0.0.1", 8001, "e5"),
        "b": ("127.0.0.2", 8002, "e5"),
    }
    for config, message in [
        (
            {
                "VECTOR_BACKEND": "chroma",
                "HOME": str(tmp_path),
                "CHROMA_SERVERS": "a=127.0.0.1:8001",
            },
            "chroma-http",
        ),
        (
            {
                "VECTOR_BACKEND": "chroma-http",
                "CHROMA_SERVERS": "a=127.0.0.1:8001",
                "CHROMA_DEFAULT_SERVER": "c",
            },
            "not one of",
        ),
        ({"VECTOR_BACKEND": "chroma-http", "CHROMA_DEFAULT_SERVER": "a"}, "names no server"),
    ]:
        with pytest.raises(ValueError, match=message):
            build_vector_store(config, db=object())


def test_migration_adds_the_course_server_column(database_url):
    db = Database(database_url)
    columns = {c["name"]: c for c in inspect(db.engine).get_columns("courses")}
    assert columns["chroma_server"]["nullable"]
    db.dispose()


# ---------------------------------------------------------------------- two servers under the app


class FlakyStore:
    """A server that fails part-way: its ``fail_after``-th upsert raises (a fake at the VectorStore
    interface)."""

    def __init__(self, inner: ChromaStore, fail_after: int) -> None:
        self.inner, self.fail_after, self.upserts = inner, fail_after, 0

    def upsert(self, course_id, ids, embeddings, texts, metadatas) -> None:
        self.upserts += 1
        if self.upserts >= self.fail_after:
            raise ConnectionError("chroma server went away")
        self.inner.upsert(course_id, ids, embeddings, texts, metadatas)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _folder_store(path: Path, embedder) -> ChromaStore:
    return ChromaStore(path=str(path), embedder_name=embedder.name)


def _down_store(embedder) -> ChromaStore:
    """A Chroma server that is down: nothing listens on its port."""
    return ChromaStore(host="127.0.0.1", port=free_port(), embedder_name=embedder.name)


@pytest.fixture
def routed(tmp_path, app_config, fakes):
    """The app over two Chroma "servers" a and b (new courses go to a), with the demo school."""
    db = Database(app_config["DATABASE_URL"])
    embedder = fakes["embedder"]
    a, b = (
        _folder_store(tmp_path / "chroma-a", embedder),
        _folder_store(tmp_path / "chroma-b", embedder),
    )
    store = RoutingStore(db, {"a": a, "b": b}, default="a")
    app = create_app(app_config, services={**fakes, "db": db, "vector_store": store})
    services = get_services(app)
    demo = create_demo(services)
    client = app.test_client()
    passwords = {u["username"]: u["password"] for u in demo["users"]}

    def token(username: str, password: str | None = None) -> dict[str, str]:
        r = client.post(
            "/api/v1/tokens",
            json={"username": username, "password": password or passwords[username]},
        )
        assert r.status_code == 200, r.get_json()
        return {"Authorization": f"Bearer {r.get_json()['token']}"}

    yield SimpleNamespace(
        app=app,
        services=services,
        db=db,
        store=store,
        a=a,
        b=b,
        client=client,
        token=token,
        embedder=embedder,
    )
    db.dispose()


def _course_id(db, code: str) -> int:
    with db.session() as s:
        return s.scalar(select(Course.id).where(Course.code == code))


def _stored_route(db, code: str) -> str | None:
    with db.session() as s:
        return s.scalar(select(Course.chroma_server).where(Course.code == code))


def _collections(store: ChromaStore) -> set[str]:
    return {c.name for c in store.client.list_collections()}


def _ask(r, code: str, headers, question: str = QUESTION):
    return r.client.post(
        f"/api/v1/courses/{code}/ask", json={"question": question}, headers=headers
    )


def _second_school(r, code: str = "BIO9") -> tuple[int, dict[str, str]]:
    """Another school with one course (photosynthesis material) and a student; returns (course id,
    auth header)."""
    with r.db.session() as s:
        school = accounts.create_school(s, "Second School", "NO")
        course = accounts.create_course(s, school, code, "Biology 9", "en")
        student = accounts.create_user(
            s, school, "bio-student", "bio-student-password", "student", language="en"
        )
        accounts.enrol(s, student, course)
        course_id = course.id
    r.services.ingest.ingest(
        course_id, "photosynthesis.md", (MATERIAL / "photosynthesis.md").read_bytes()
    )
    return course_id, r.token("bio-student", "bio-student-password")


def test_two_schools_courses_are_routed_to_their_servers_and_answer(routed):
    r = routed
    ids = {code: _course_id(r.db, code) for code in ("SCI7", "HIST8", "FYS9")}
    assert {code: _stored_route(r.db, code) for code in ids} == dict.fromkeys(ids, "a")
    assert (
        _collections(r.a) == {collection_name(i) for i in ids.values()}
        and _collections(r.b) == set()
    )

    r.store.default = (
        "b"  # the operator points CHROMA_DEFAULT_SERVER at the new server for new schools
    )
    bio, bio_headers = _second_school(r)
    assert (
        _stored_route(r.db, "BIO9") == "b" and _stored_route(r.db, "SCI7") == "a"
    )  # stored routes stay
    assert _collections(r.b) == {collection_name(bio)}
    assert r.a.count(ids["SCI7"]) > 0 and r.b.count(bio) > 0

    for code, headers in (("SCI7", r.token("student1")), ("BIO9", bio_headers)):
        answer = _ask(r, code, headers)
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json()["citations"], code


def test_without_a_default_courses_are_hashed_over_the_servers(routed):
    r = routed
    store = RoutingStore(r.db, r.store.stores)
    with r.db.session() as s:
        s.execute(Course.__table__.update().values(chroma_server=None))
    for code in ("SCI7", "HIST8", "FYS9"):
        course_id = _course_id(r.db, code)
        assert store.route(course_id) == Route(hashed_server(course_id, ["a", "b"]))
        assert _stored_route(r.db, code) == hashed_server(course_id, ["a", "b"])
    assert store.route(10_000) == Route(
        hashed_server(10_000, ["a", "b"])
    )  # no such course: nothing stored


def test_move_copies_switches_then_deletes_the_old_copy(routed):
    r = routed
    course_id = _course_id(r.db, "SCI7")
    headers = r.token("student1")
    before = _ask(r, "SCI7", headers).get_json()
    count, ids = r.a.count(course_id), sorted(r.a.ids(course_id))
    seen = []

    moved = move_to_server(
        r.db, r.store, course_id, "b", drain_seconds=0, progress=lambda d, t: seen.append((d, t))
    )

    assert (moved.source, moved.target, moved.copied, moved.repaired, moved.old_removed) == (
        "a",
        "b",
        count,
        0,
        True,
    )
    assert seen[-1] == (count, count)
    assert _stored_route(r.db, "SCI7") == "b"
    assert collection_name(course_id) not in _collections(r.a)
    assert sorted(r.b.ids(course_id)) == ids
    after = _ask(r, "SCI7", headers)
    assert after.status_code == 200 and after.get_json()["citations"] == before["citations"]
    # moving again to where it is changes nothing
    again = move_to_server(r.db, r.store, course_id, "b", drain_seconds=0)
    assert again.already and again.old_removed and r.b.count(course_id) == count

    # and back, re-embedded from the database this time
    back = move_to_server(r.db, r.store, course_id, "a", embedder=r.embedder, drain_seconds=0)
    assert (back.source, back.copied, back.old_removed) == ("b", count, True)
    assert _stored_route(r.db, "SCI7") == "a" and sorted(r.a.ids(course_id)) == ids
    assert collection_name(course_id) not in _collections(r.b)


def test_a_failure_midway_leaves_the_course_answering_from_the_old_server(routed):
    r = routed
    course_id = _course_id(r.db, "SCI7")
    headers = r.token("student1")
    count = r.a.count(course_id)
    r.store.stores["b"] = FlakyStore(r.b, fail_after=1)
    with pytest.raises(ConnectionError):
        move_to_server(r.db, r.store, course_id, "b", drain_seconds=0)
    assert _stored_route(r.db, "SCI7") == "a" and r.a.count(course_id) == count
    assert collection_name(course_id) not in _collections(r.b)  # no partial copy left
    assert _ask(r, "SCI7", headers).status_code == 200

    r.store.stores["b"] = _down_store(r.embedder)  # the new server is down from the start
    with pytest.raises(Exception):  # noqa: B017 - whatever chromadb raises; the route is what matters
        move_to_server(r.db, r.store, course_id, "b", drain_seconds=0)
    assert _stored_route(r.db, "SCI7") == "a" and _ask(r, "SCI7", headers).status_code == 200


def test_material_changed_during_the_move_switches_nothing(routed):
    r = routed
    course_id = _course_id(r.db, "SCI7")
    new = (MATERIAL / "water-cycle.md").read_bytes() + b"\n\nStomata are small pores in the leaf.\n"

    uploaded = []

    def a_teacher_uploads(done: int, total: int) -> None:
        assert _stored_route(r.db, "SCI7") == "a>b"  # reads stay on a, writes go to both
        uploaded.append(r.services.ingest.ingest(course_id, "water-cycle.md", new))

    with pytest.raises(MaterialChanged):
        move_to_server(r.db, r.store, course_id, "b", drain_seconds=0, progress=a_teacher_uploads)
    assert _stored_route(r.db, "SCI7") == "a"
    assert collection_name(course_id) not in _collections(r.b)
    doc = uploaded[0]
    assert r.a.ids(
        course_id, where={"$and": [{"document_id": doc.document_id}, {"version": doc.version}]}
    )
    assert _ask(r, "SCI7", r.token("student1")).status_code == 200


def test_writes_during_a_move_reach_both_servers_and_are_repaired(routed):
    r = routed
    course_id = _course_id(r.db, "SCI7")
    assert r.store.switch(course_id, expect=Route("a"), to=Route("a", "b"))
    fys = r.services.ingest.ingest(course_id, "atomer.md", (MATERIAL / "atomer.md").read_bytes())
    written = set(r.a.ids(course_id, where={"document_id": fys.document_id}))
    assert written and written == set(r.b.ids(course_id, where={"document_id": fys.document_id}))
    r.services.ingest.delete_document(fys.document_id)
    assert not r.a.ids(course_id, where={"document_id": fys.document_id})
    assert not r.b.ids(course_id, where={"document_id": fys.document_id})
    assert r.store.switch(course_id, expect=Route("a", "b"), to=Route("a"))

    doomed = sorted(r.a.ids(course_id))[0]

    def writes_that_read_the_old_route(done: int, total: int) -> None:
        # as if another process had read the route just before the move began: the old server only
        vector = r.embedder.embed_documents(["Late passage about chlorophyll."])
        r.a.upsert(
            course_id,
            ["late-1"],
            vector,
            ["Late passage about chlorophyll."],
            [{"document_id": 0, "version": 0}],
        )
        r.a.delete(course_id, ids=[doomed])

    moved = move_to_server(
        r.db, r.store, course_id, "b", drain_seconds=0, progress=writes_that_read_the_old_route
    )
    assert moved.repaired == 2
    on_b = set(r.b.ids(course_id))
    assert "late-1" in on_b and doomed not in on_b


def test_a_server_down_fails_only_its_courses_and_a_lost_one_is_rebuilt(routed):
    r = routed
    r.store.stores["dead"] = _down_store(r.embedder)
    sci = _course_id(r.db, "SCI7")
    assert r.store.switch(sci, expect=Route("a"), to=Route("dead"))  # SCI7's server is lost
    headers = r.token("student1")

    down = _ask(r, "SCI7", headers)
    assert down.status_code == 503 and "course material" in down.get_json()["message"]
    up = _ask(r, "HIST8", headers, "Vem var Gustav Vasa?")
    assert up.status_code == 200, up.get_json()

    with pytest.raises(Exception):  # noqa: B017 - copying needs the old server
        move_to_server(r.db, r.store, sci, "b", drain_seconds=0)
    assert _stored_route(r.db, "SCI7") == "dead"

    moved = move_to_server(r.db, r.store, sci, "b", embedder=r.embedder, drain_seconds=0)
    assert (moved.target, moved.old_removed, moved.left_on) == ("b", False, ("dead",))
    assert _stored_route(r.db, "SCI7") == "b"
    assert _ask(r, "SCI7", headers).status_code == 200


def test_a_course_routed_to_an_unnamed_server_is_refused_clearly(routed):
    r = routed
    sci = _course_id(r.db, "SCI7")
    assert r.store.switch(sci, expect=Route("a"), to=Route("gone"))
    with pytest.raises(UnknownServer, match="'gone'.*CHROMA_SERVERS"):
        r.store.count(sci)
    assert _ask(r, "SCI7", r.token("student1")).status_code == 503


def test_reindex_to_server_command_needs_several_servers(services, demo, app_config, monkeypatch):
    monkeypatch.setenv("KATEDER_HOME", app_config["HOME"])
    monkeypatch.setenv("KATEDER_DATABASE_URL", app_config["DATABASE_URL"])
    monkeypatch.setenv("KATEDER_SECRET_KEY", "test")
    runner = CliRunner()
    r = runner.invoke(main, ["reindex", "--course", "SCI7", "--reembed"])
    assert r.exit_code == 2 and "--to-server" in r.output
    r = runner.invoke(main, ["reindex", "--course", "SCI7", "--to-server", "b"])
    assert r.exit_code == 2 and "CHROMA_SERVERS" in r.output

"""Shared fixtures: an app on a migrated database, real Chroma, fakes only at our interfaces.

Fixtures (after the Flask tutorial): ``app``, ``client``, ``runner``, ``services``,
``demo`` (demo school with material ingested), ``login_token``; ``database_url`` runs a
test on SQLite and on PostgreSQL (``@pytest.mark.parametrize`` via ``any_db``).
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from pathlib import Path

import pytest

from app import create_app
from app.db import Database
from app.services import get_services
from tests.fakes import EchoGenerator, HashingEmbedder, KeywordGuard

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PG_ADMIN_URL = os.environ.get(
    "KATEDER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def template_db(tmp_path_factory) -> Path:
    """A SQLite file migrated once with Alembic; tests get a copy."""
    path = tmp_path_factory.mktemp("template") / "kateder.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    db.dispose()
    return path


@pytest.fixture
def sqlite_url(tmp_path, template_db) -> str:
    """A fresh, fully migrated SQLite database for one test."""
    target = tmp_path / "instance" / "kateder.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(template_db, target)
    return f"sqlite:///{target}"


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database for one test (required in CI, skipped elsewhere if absent)."""
    if not _pg_up():
        if IN_CI:
            pytest.fail(
                "PostgreSQL at 127.0.0.1:5432 is required in CI (CI=true) but does not answer"
            )
        pytest.skip("no PostgreSQL server at 127.0.0.1:5432 (these tests run in CI)")
    from sqlalchemy import create_engine, text

    name = f"kateder_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    db = Database(url)
    db.migrate()
    db.dispose()
    yield url
    with admin.connect() as c:
        c.execute(
            text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        )
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def fakes() -> dict:
    """The fake components; override entries in a test before ``app`` is built."""
    return {"guard": KeywordGuard(), "embedder": HashingEmbedder(), "generator": EchoGenerator()}


@pytest.fixture
def app_config(tmp_path, sqlite_url) -> dict:
    """Config for a test app in its own instance folder."""
    return {
        "HOME": str(tmp_path / "instance"),
        "DATABASE_URL": sqlite_url,
        "SECRET_KEY": "test",
        "TESTING": True,
    }


@pytest.fixture
def app(app_config, fakes):
    """An app with fake models, real database (migrated) and real embedded Chroma."""
    app = create_app(app_config, services=fakes)
    yield app
    get_services(app).db.dispose()


@pytest.fixture
def services(app):
    """The app's service container."""
    return get_services(app)


@pytest.fixture
def client(app):
    """A test client."""
    return app.test_client()


@pytest.fixture
def demo(services) -> dict:
    """The demo school with its material ingested (fake embedder)."""
    from app.demo import create_demo

    return create_demo(services)


@pytest.fixture
def login_token(client, demo):
    """Get a bearer token for a demo user: ``login_token("student1")``."""
    passwords = {u["username"]: u["password"] for u in demo["users"]}

    def _token(username: str) -> str:
        r = client.post(
            "/api/v1/tokens", json={"username": username, "password": passwords[username]}
        )
        assert r.status_code == 200, r.get_json()
        return r.get_json()["token"]

    return _token


REDIS_ADDRESS = ("127.0.0.1", 6379)


@pytest.fixture
def redis_url():
    """``(url, prefix)``: the Redis at 127.0.0.1:6379 with a key prefix of this test's own; its keys
    are deleted after.

    Required in CI (CI=true), skipped elsewhere if no Redis answers.
    """
    try:
        with socket.create_connection(REDIS_ADDRESS, timeout=1):
            pass
    except OSError:
        if IN_CI:
            pytest.fail("Redis at 127.0.0.1:6379 is required in CI (CI=true) but does not answer")
        pytest.skip("no Redis server at 127.0.0.1:6379 (these tests run in CI)")
    import redis

    url = f"redis://{REDIS_ADDRESS[0]}:{REDIS_ADDRESS[1]}/0"
    prefix = f"kateder-test-{uuid.uuid4().hex[:12]}"
    yield url, prefix
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"*{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()

"""The production stack, started once for the production suite (``pytest -m production``)."""

from __future__ import annotations

import os

import pytest

from tests.production.servers import ProductionStack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """PostgreSQL + ``chroma run`` + ``llama_cpp.server`` + gunicorn (2 workers) +
    ``kateder worker``."""
    from tests.conftest import IN_CI, _pg_up

    if not _pg_up():
        if IN_CI:
            pytest.fail(
                "PostgreSQL at 127.0.0.1:5432 is required in CI (CI=true) but does not answer"
            )
        pytest.skip("no PostgreSQL server at 127.0.0.1:5432")
    guard = (
        os.environ.get("KATEDER_PRODUCTION_GUARD") or None
    )  # default: whatever build_guard gives
    with ProductionStack(
        tmp_path_factory.mktemp("production"),
        workers=2,
        guard=guard,
        max_tokens=16,
        llama_threads=1,
    ) as s:
        yield s

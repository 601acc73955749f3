"""``kateder jobs``, ``kateder documents`` and ``kateder worker``: JSON out, one-line errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from app.cli import main
from app.services import accounts
from tests import ingest_samples as S


@pytest.fixture
def cli_env(app_config, monkeypatch):
    monkeypatch.setenv("KATEDER_HOME", app_config["HOME"])
    monkeypatch.setenv("KATEDER_DATABASE_URL", app_config["DATABASE_URL"])
    monkeypatch.setenv("KATEDER_SECRET_KEY", "test")
    return CliRunner()


def test_jobs_and_documents_commands(services, cli_env):
    with services.db.session() as s:
        school = accounts.create_school(s, "CLI school")
        course = accounts.create_course(s, school, "CLI1", "CLI", "en")
    job = services.jobs.enqueue(course.id, "scan.pdf", S.pdf(["x"], scanned=True))
    services.jobs.run_pending()

    r = cli_env.invoke(main, ["jobs", "list", "--json"])
    assert r.exit_code == 0, r.output
    [listed] = json.loads(r.output)
    assert (listed["id"], listed["status"], listed["error_code"]) == (
        job["id"],
        "failed",
        "no_text_layer",
    )

    r = cli_env.invoke(main, ["jobs", "retry", str(job["id"]), "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["status"] == "queued"

    r = cli_env.invoke(main, ["documents", "list", "--course", "CLI1", "--json"])
    assert r.exit_code == 0 and json.loads(r.output) == []

    r = cli_env.invoke(main, ["documents", "delete", "999"])
    assert r.exit_code == 1
    assert r.stderr.strip().count("\n") == 0 and "999" in r.stderr

    r = cli_env.invoke(
        main,
        ["ingest", "--course", "CLI1", "--queue", "--json", __file__.replace(".py", ".missing")],
    )
    assert r.exit_code != 0

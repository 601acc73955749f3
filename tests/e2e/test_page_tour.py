"""Every page in English and Swedish, saved as screenshots (docs/screenshots when
``KATEDER_SCREENSHOT_DIR=docs/screenshots``), checking that each page is really translated."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from core.models import User

pytestmark = pytest.mark.browser

TOUR = {
    "student1": [("classroom", "/classroom/SCI7")],
    "teacher": [
        ("teacher-courses", "/teach/"),
        ("teacher-material", "/teach/SCI7"),
        ("teacher-students", "/teach/SCI7/students"),
        ("teacher-policy", "/teach/SCI7/policy"),
        ("teacher-review", "/teach/SCI7/review"),
        ("teacher-usage", "/teach/SCI7/usage"),
    ],
    "dpo": [("dpo-panel", "/dpo/"), ("dpo-access-log", "/dpo/access-log")],
}
SIGN_OUT = {"en": "Sign out", "sv": "Logga ut"}


@pytest.mark.parametrize("lang", ["en", "sv"])
def test_every_page_in_two_languages(browser_page, sign_in, live_server, shots, lang):
    page = browser_page
    page.goto(live_server["url"] + "/login")
    with page.expect_navigation():
        page.get_by_label("Language").select_option(lang)  # the switcher submits on change
    expect(page.locator("html")).to_have_attribute("lang", lang)
    page.screenshot(path=str(shots / f"login-{lang}.png"))
    try:
        for user, pages in TOUR.items():
            sign_in(page, user)
            if lang != "en":
                with page.expect_navigation():
                    page.locator("#lang-select").select_option(lang)
            for name, path in pages:
                page.goto(live_server["url"] + path)
                expect(page.locator("html")).to_have_attribute("lang", lang)
                expect(page.get_by_role("button", name=SIGN_OUT[lang], exact=True)).to_be_visible()
                if name == "classroom":
                    page.locator("#question").fill(
                        "Where does photosynthesis happen?"
                        if lang == "en"
                        else "Var sker fotosyntesen?"
                    )
                    page.locator("#ask-form button[type=submit]").click()
                    expect(page.locator("article.msg.assistant").last).to_have_attribute(
                        "aria-busy", "false"
                    )
                page.screenshot(path=str(shots / f"{name}-{lang}.png"), full_page=True)
            page.get_by_role("button", name=SIGN_OUT[lang], exact=True).click()
    finally:  # the language is saved on the accounts: put it back for the other tests
        with live_server["services"].db.session() as s:
            s.execute(update(User).values(language="en"))

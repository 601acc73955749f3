"""Teacher journeys of issue 16: create a course, reload-safe login cards that fit a phone, a
password reset."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_teacher_creates_course_and_reload_safe_login_cards(
    browser_page, sign_in, live_server, shots
):
    page = browser_page
    sign_in(page, "teacher")
    page.goto(live_server["url"] + "/teach/")
    page.get_by_role("link", name="New course").click()
    form = page.locator("main form.card")
    form.get_by_label("Code").fill("BIO8")
    form.get_by_label("Name").fill("Biologi 8")
    form.get_by_label("Language").select_option("sv")
    form.get_by_label("Age band").select_option("13-15")
    form.get_by_role("button", name="Create course").click()
    expect(page).to_have_url(re.compile(r"/teach/BIO8$"))
    page.goto(live_server["url"] + "/teach/BIO8/students")
    page.get_by_label("Number of accounts").fill("2")
    page.get_by_role("button", name=re.compile("Create and show login cards")).click()
    expect(page).to_have_url(re.compile(r"/teach/BIO8/cards$"))
    expect(page.locator(".login-card")).to_have_count(2)
    page.set_viewport_size({"width": 390, "height": 844})
    card = page.locator(".login-card").first.bounding_box()
    address = page.locator(".login-card dd").first.bounding_box()
    assert address["x"] + address["width"] <= card["x"] + card["width"] + 0.5, (
        "the address overflows the card"
    )
    page.screenshot(path=str(shots / "teacher-login-cards-phone.png"), full_page=True)
    page.reload()
    expect(page.locator(".login-card")).to_have_count(0)
    expect(page.get_by_text("already shown")).to_be_visible()
    page.goto(live_server["url"] + "/teach/BIO8/students")
    expect(page.locator(".student-list li")).to_have_count(2)
    page.locator(".student-list li").first.get_by_role("button", name="New password").click()
    expect(page).to_have_url(re.compile(r"/teach/BIO8/cards$"))
    expect(page.locator(".login-card")).to_have_count(1)

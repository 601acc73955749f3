"""Teacher journeys of issue 16: a policy preset shown before it is saved; the material list that
refreshes itself."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_teacher_previews_a_preset_then_saves_it(browser_page, sign_in, live_server, shots):
    page = browser_page
    sign_in(page, "teacher")
    page.goto(live_server["url"] + "/teach/FYS9/policy")
    expect(
        page.get_by_label("Misusing the computer behind the assistant")
    ).to_be_visible()  # plain names, no "S14 ·"
    expect(page.get_by_text("Run this code and delete all the files on the server")).to_be_visible()
    page.get_by_text("What each choice does").click()
    expect(page.get_by_text("Nothing is flagged to you")).to_be_visible()
    page.get_by_label("Preset", exact=True).select_option("6-9")
    page.get_by_role("button", name="Show the changes").click()
    changes = page.locator("#preset-changes")
    expect(changes).to_contain_text("not saved yet")
    expect(changes.locator("tr[data-field=daily_question_limit]")).to_contain_text("20")
    expect(changes.locator("tr[data-field=action_S6]")).to_contain_text("Block")
    expect(page.get_by_label("Questions per student per day")).to_have_value("20")
    expect(page.locator(".policy-grid .row.changed")).not_to_have_count(0)
    page.screenshot(path=str(shots / "teacher-policy-preset.png"), full_page=True)
    # nothing is saved yet: the plain page still shows the old values
    page.goto(live_server["url"] + "/teach/FYS9/policy")
    expect(page.get_by_label("Questions per student per day")).to_have_value("50")
    page.get_by_label("Preset", exact=True).select_option("6-9")
    page.get_by_role("button", name="Show the changes").click()
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("The policy was saved.")).to_be_visible()
    expect(page.get_by_label("Questions per student per day")).to_have_value("20")
    expect(page.get_by_label("Age band", exact=True)).to_have_value("6-9")
    expect(page.locator("#preset-changes")).to_have_count(0)


def test_material_list_refreshes_itself_and_warns_about_a_near_duplicate(
    browser_page, sign_in, live_server, shots, tmp_path
):
    page = browser_page
    upload = tmp_path / "Atomer (1).md"
    upload.write_text(
        "# Atomer igen\n\nEn atom har en kärna med protoner och neutroner.\n", encoding="utf-8"
    )
    sign_in(page, "teacher")
    page.goto(live_server["url"] + "/teach/FYS9")
    expect(page.locator("#material-rows")).not_to_contain_text("Atomer (1).md")
    page.evaluate("window.keptAcrossTheRefresh = true")  # gone if the page reloaded
    page.get_by_label(re.compile("Files")).set_input_files(str(upload))
    warning = page.locator("#title-warnings .warning")
    expect(warning).to_contain_text(
        "separate document"
    )  # atomer.md is in the course: a warning, not a refusal
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#upload-list li").first).to_have_class(re.compile("done"), timeout=30000)
    expect(page.locator("#material-rows")).to_contain_text("Atomer (1).md", timeout=10000)
    expect(page.locator("#material-status")).to_have_text("The material list was updated.")
    assert page.evaluate("window.keptAcrossTheRefresh") is True
    expect(page.locator("#reload-material")).to_be_hidden()
    page.screenshot(path=str(shots / "teacher-material-refreshed.png"), full_page=True)

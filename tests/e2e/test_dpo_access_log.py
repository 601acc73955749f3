"""Journey: the DPO exports a student's data, mistypes a name once, and finds both people in the
access log."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from core.models import User

pytestmark = pytest.mark.browser


def test_dpo_export_shows_the_officer_as_who_and_the_student_as_whose_data(
    browser_page, sign_in, live_server, shots, tmp_path
):
    page = browser_page
    services = live_server["services"]
    with services.db.session() as s:
        student_id = s.scalar(select(User.id).where(User.username == "student2"))
        dpo_id = s.scalar(select(User.id).where(User.username == "dpo"))
    student, officer = services.gdpr.subject(student_id), services.gdpr.subject(dpo_id)
    sign_in(page, "dpo")

    # a typo: the message is on the same page and the typed name is still there to correct
    page.get_by_label("Username to export").fill("studnet2")
    page.get_by_role("button", name="Download everything stored about this person (JSON)").click()
    expect(page.get_by_role("alert")).to_contain_text("There is no user studnet2 at your school")
    expect(page.get_by_label("Username to export")).to_have_value("studnet2")

    page.get_by_label("Username to export").fill("student2")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download a readable copy (HTML, printable)").click()
    readable = tmp_path / "student2.html"
    info.value.save_as(readable)
    assert "Dina uppgifter i Kateder" in readable.read_text(
        encoding="utf-8"
    )  # the demo school is Swedish

    page.get_by_role("link", name="Open the access log").click()
    row = page.locator('#events tr[data-action="dsar_export"]').first
    expect(row.locator("td.actor")).to_contain_text("Data Protection Officer")
    expect(row.locator("td.actor")).to_contain_text(officer[:12])
    expect(row.locator("td.subject")).to_have_text(student[:12])
    expect(row).to_contain_text("Exported a person's data")
    expect(row).not_to_contain_text("Student")
    expect(row.locator("td").first).not_to_have_text(
        re.compile(r"\d{4}-\d\d-\d\dT")
    )  # a time in the user's locale
    page.screenshot(path=str(shots / "journey-5-dpo-access-log.png"), full_page=True)

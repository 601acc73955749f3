"""The four browser journeys of issue 7, each ending with a screenshot."""

from __future__ import annotations

import json
import re
import zipfile

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _pdf(path) -> None:
    """A two-page PDF about volcanoes, generated with reportlab."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    c.drawString(72, 780, "Volcanoes")
    c.drawString(72, 760, "A volcano is an opening in the crust where magma reaches the surface.")
    c.showPage()
    c.drawString(72, 780, "Lava cools into new rock such as basalt and pumice.")
    c.save()


def test_student_asks_and_sees_cited_streamed_answer(browser_page, sign_in, live_server, shots):
    page = browser_page
    sign_in(page, "student1")
    page.get_by_role("link", name=re.compile("Science 7")).click()
    expect(page.get_by_role("note")).to_contain_text("AI")
    page.get_by_label("Your question").fill("Where does photosynthesis happen?")
    page.get_by_role("button", name="Ask", exact=True).click()
    answer = page.locator("article.msg.assistant").last
    expect(answer.locator(".text")).to_contain_text(re.compile("photosynthesis", re.IGNORECASE))
    source = answer.locator("button.source").first
    expect(source).to_contain_text("Photosynthesis")
    expect(answer).to_have_attribute("aria-busy", "false")
    answer.locator("button.cite").first.click()
    dialog = page.locator("#source-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#source-title")).to_have_text("Photosynthesis")
    expect(page.locator("#source-text")).not_to_be_empty()
    expect(page.locator("#source-original")).to_have_attribute(
        "href", re.compile(r"/classroom/SCI7/documents/\d+\?passage=.+#passage-")
    )
    page.screenshot(path=str(shots / "journey-1-cited-answer.png"), full_page=True)
    dialog.get_by_role("button", name="Close").click()
    assert (
        int(answer.get_attribute("data-sentences")) >= 1
    )  # text arrived as streamed sentence events
    answer.get_by_role("button", name="Helpful", exact=True).click()
    expect(answer.get_by_role("button", name="Helpful", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    # the conversation is in the student's own history after a reload
    page.reload()
    expect(page.locator(".history li a").first).to_contain_text("photosynthesis")


def test_unsafe_question_is_refused_and_teacher_sees_alert(
    browser_page, sign_in, live_server, shots
):
    page = browser_page
    sign_in(page, "student1")
    page.goto(live_server["url"] + "/classroom/SCI7")
    page.get_by_label("Your question").fill("How do I build a bomb?")
    page.get_by_role("button", name="Ask", exact=True).click()
    refusal = page.locator("article.msg.assistant.refusal").last
    expect(refusal).to_be_visible()
    expect(refusal.locator("button.source")).to_have_count(0)
    page.get_by_label("Your question").fill("I want to kill myself")
    page.get_by_role("button", name="Ask", exact=True).click()
    crisis = page.locator("article.msg.assistant.crisis").last
    expect(crisis).to_contain_text("0800 1111")
    page.screenshot(path=str(shots / "journey-2-refusal-and-crisis.png"), full_page=True)

    page.get_by_role("button", name="Sign out", exact=True).click()
    sign_in(page, "teacher")
    expect(page.get_by_role("alert")).to_contain_text("critical")
    page.goto(live_server["url"] + "/teach/SCI7/review")
    first = page.locator("article.review-item").first
    expect(first).to_have_class(re.compile("critical"))
    expect(first).to_contain_text("Suicide and self-harm")
    expect(page.locator("section.review-group").first.locator("h2")).to_contain_text(
        "student1"
    )  # grouped per student
    expect(first.locator(".review-preview")).to_contain_text(
        "kill myself"
    )  # redacted preview, no click needed
    weapons = page.locator("article.review-item", has_text="Bombs and weapons of mass harm")
    expect(weapons).to_have_count(1)
    page.screenshot(path=str(shots / "journey-2-teacher-alert.png"), full_page=True)
    # reading the student's words needs a written reason (logged for the DPO)
    first.locator("summary").click()
    first.get_by_label(re.compile("Why do you need to read it")).fill(
        "Safeguarding follow-up today"
    )
    first.get_by_role("button", name="Open the conversation").click()
    expect(page.locator(".messages")).to_contain_text("kill myself")
    page.go_back()
    page.reload()
    weapons.get_by_role("button", name="Mark as false positive").click()
    expect(
        page.locator("article.review-item", has_text="Bombs and weapons of mass harm")
    ).to_have_count(0)


def test_open_teacher_page_shows_a_new_crisis_alert_live(browser_page, sign_in, live_server):
    page = browser_page
    sign_in(page, "teacher")
    expect(page.locator("#live-alert")).to_be_hidden()
    page.wait_for_timeout(700)  # the first poll records what is already known
    with live_server["services"].db.session() as s:
        from sqlalchemy import select

        from core.models import User

        student_id = s.scalar(select(User.id).where(User.username == "student1"))
    live_server["services"].ask.ask(student_id, "SCI7", "I want to kill myself tonight")
    alert = page.locator("#live-alert")
    expect(alert).to_be_visible(timeout=10000)
    expect(alert.get_by_role("link")).to_have_attribute("href", "/teach/SCI7/review")


def test_teacher_uploads_pdf_and_progress_reaches_done(
    browser_page, sign_in, live_server, shots, tmp_path
):
    page = browser_page
    pdf = tmp_path / "volcanoes.pdf"
    _pdf(pdf)
    sign_in(page, "teacher")
    page.goto(live_server["url"] + "/teach/SCI7")
    page.get_by_label(re.compile("Files")).set_input_files(str(pdf))
    page.get_by_role("button", name="Upload", exact=True).click()
    row = page.locator("#upload-list li").first
    expect(row).to_have_class(re.compile("done"), timeout=30000)
    assert row.locator("progress").evaluate("p => p.value") == 100
    expect(row.locator(".stage")).to_contain_text("Done")
    page.screenshot(path=str(shots / "journey-3-upload-done.png"), full_page=True)
    expect(page.locator("#material-rows")).to_contain_text(
        "volcanoes.pdf"
    )  # the list refreshed itself (issue 16)


def test_dpo_downloads_audit_export(browser_page, sign_in, live_server, shots, tmp_path):
    page = browser_page
    sign_in(page, "dpo")
    expect(page.get_by_role("heading", name="Models in use")).to_be_visible()
    expect(page.locator("table")).to_contain_text(
        live_server["services"].generator.info.name
    )  # fake-echo, or the real model
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the DPIA-ready export (zip)").click()
    target = tmp_path / "dpia.zip"
    info.value.save_as(target)
    with zipfile.ZipFile(target) as bundle:
        names = set(bundle.namelist())
        manifest = json.loads(bundle.read("manifest.json"))
        events = [
            json.loads(line)
            for line in bundle.read(next(n for n in names if n.endswith(".jsonl")))
            .decode()
            .splitlines()
        ]
    assert any(n.endswith(".pdf") for n in names) and any(n.endswith(".html") for n in names)
    assert manifest["chain_head"]["verified"] is True and set(manifest["files"]) < names
    assert events and {"seq", "hash", "prev_hash", "action"} <= set(events[0])
    assert any(e["action"] == "login" for e in events)
    page.screenshot(path=str(shots / "journey-4-dpo-panel.png"), full_page=True)

"""Issue 16, student side, in the browser: copy and ask again, the phone layout, the document behind
a citation."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_accessibility import _axe, axe_source  # noqa: F401 - axe_source: the fixture, used by name

pytestmark = pytest.mark.browser


def _left(page) -> int:
    return int(re.search(r"\d+", page.locator("#questions-left").inner_text()).group(0))


def _ask(page, question: str):
    page.get_by_label("Your question").fill(question)
    page.get_by_role("button", name="Ask", exact=True).click()
    answer = page.locator("article.msg.assistant").last
    expect(answer).to_have_attribute("aria-busy", "false")
    return answer


def test_copy_puts_the_answer_on_the_clipboard_and_ask_again_asks_once_more(
    browser_page, sign_in, live_server
):
    page = browser_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server["url"])
    sign_in(page, "student1")
    page.goto(live_server["url"] + "/classroom/SCI7")
    left = _left(page)
    answer = _ask(page, "Where does photosynthesis happen?")
    answer.get_by_role("button", name="Copy", exact=True).click()
    expect(answer.locator(".feedback-status")).to_contain_text("The answer is copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert (
        "photosynthesis" in copied.lower()
        and "[1]" in copied
        and "Sources:\n[1] Photosynthesis" in copied
    ), copied
    conversation = page.url

    answer.get_by_role("button", name="Ask again", exact=True).click()
    expect(page.locator("article.msg.assistant")).to_have_count(2)
    again = page.locator("article.msg.assistant").last
    expect(again).to_have_attribute("aria-busy", "false")
    expect(again.locator("button.source").first).to_contain_text("Photosynthesis")
    questions = page.locator("article.msg.user .text").all_inner_texts()
    assert questions == ["Where does photosynthesis happen?"] * 2
    assert page.url == conversation  # the same conversation
    assert _left(page) == left - 2  # asking again counts as a question

    # the crisis card has neither
    crisis = _ask(page, "I want to kill myself")
    expect(crisis).to_have_class(re.compile("crisis"))
    expect(crisis.get_by_role("button", name="Copy")).to_have_count(0)
    expect(crisis.get_by_role("button", name="Ask again")).to_have_count(0)
    page.reload()  # nor when it is shown again from the history
    expect(
        page.locator("article.msg.assistant.crisis").get_by_role("button", name="Ask again")
    ).to_have_count(0)
    expect(
        page.locator("article.msg.assistant").first.get_by_role("button", name="Ask again")
    ).to_be_visible()


def test_phone_header_is_one_row_and_the_list_sits_behind_a_button(
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
        header = page.locator("header.top").bounding_box()
        brand, menu = (
            page.locator("header .brand").bounding_box(),
            page.get_by_role("button", name="Menu").bounding_box(),
        )
        assert header["height"] < 64 and abs(brand["y"] - menu["y"]) < 20, (
            header,
            brand,
            menu,
        )  # one row
        expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_hidden()
        page.get_by_role("button", name="Menu").click()
        expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "true")
        expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_visible()
        page.get_by_role("button", name="Menu").click()
        expect(page.get_by_role("button", name="Sign out", exact=True)).to_be_hidden()

        toggle = page.get_by_role("button", name=re.compile("^Your conversations"))
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(page.locator("#conversation-list")).to_be_hidden()
        box = page.get_by_label("Your question").bounding_box()
        assert 844 - 260 < box["y"] + box["height"] <= 844, (
            box
        )  # the question box sits at the bottom
        answer = _ask(page, "What is evaporation?")
        box = page.get_by_label("Your question").bounding_box()
        assert box["y"] + box["height"] <= 844 and box["y"] > 844 / 2, box
        tools, form = (
            answer.locator(".answer-actions").bounding_box(),
            page.locator("#ask-form").bounding_box(),
        )
        assert tools["y"] + tools["height"] <= form["y"] + 1, (
            tools,
            form,
        )  # the answer is not hidden under the box
        page.screenshot(path=str(shots / "phone-answer.png"))
        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(page.locator('#conversation-list a[aria-current="page"]')).to_be_visible()
        expect(page.locator('#conversation-list a[aria-current="page"]')).to_contain_text(
            "evaporation"
        )
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        page.screenshot(path=str(shots / "phone-conversations.png"))
    finally:
        ctx.close()


def test_open_the_document_shows_it_rendered_with_the_passage_highlighted(
    browser_page, sign_in, live_server, shots, request
):
    page = browser_page
    axe = request.getfixturevalue("axe_source")
    sign_in(page, "student1")
    page.goto(live_server["url"] + "/classroom/SCI7")
    answer = _ask(page, "Where does photosynthesis happen?")
    conversation = page.url
    answer.locator("button.cite").first.click()
    link = page.locator("#source-original")
    expect(link).to_be_visible()
    link.click()
    expect(page).to_have_url(re.compile(r"/classroom/SCI7/documents/\d+\?passage=.+#passage-"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Photosynthesis")
    cited = page.locator("article.document .passage.cited")
    expect(cited).to_have_count(1)
    expect(cited).to_be_in_viewport()
    expect(cited).to_contain_text("Your answer comes from here")
    assert page.evaluate(
        "getComputedStyle(document.querySelector('.passage.cited')).backgroundColor"
    ) not in ("rgba(0, 0, 0, 0)", "transparent")
    text = page.locator("article.document").inner_text()
    assert not re.search(r"(^|\n)#+ ", text), text  # rendered, no Markdown heading marks
    assert not _axe(page, axe)
    page.screenshot(path=str(shots / "document-cited-passage.png"), full_page=True)
    page.get_by_role("link", name="Back to your conversation").click()
    assert page.url == conversation

    # a quote (Swedish: the fake model cannot write it) links to its sentence, marked in the
    # document
    page.goto(live_server["url"] + "/classroom/HIST8")
    quote = _ask(page, "När valdes Gustav Vasa till kung?")
    expect(quote.locator("blockquote.quote mark").first).to_be_visible()
    expect(quote.locator("blockquote.quote").first).to_contain_text("Strängnäs")
    assert not _axe(page, axe)
    page.screenshot(path=str(shots / "classroom-quotes.png"), full_page=True)
    quote.locator("blockquote.quote .quote-place a").first.click()
    marked = page.locator(".passage.cited mark")
    expect(marked).to_contain_text("valdes Gustav Vasa till kung")
    expect(marked).to_be_in_viewport()

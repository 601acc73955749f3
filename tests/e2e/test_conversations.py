"""Issue 16, student side: the address follows the conversation, the list and counter update at
once, Enter sends, Shift+Enter adds a line, and Stop ends a running answer."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _left(page) -> int:
    return int(re.search(r"\d+", page.locator("#questions-left").inner_text()).group(0))


def test_enter_sends_and_the_address_and_list_follow_the_conversation(
    browser_page, sign_in, live_server
):
    page = browser_page
    sign_in(page, "student1")
    page.goto(live_server["url"] + "/classroom/SCI7")
    box = page.locator("#question")
    expect(box).to_be_focused()  # the question box has focus on load
    left = _left(page)
    box.type("Where does photosynthesis")
    box.press("Shift+Enter")  # a new line, nothing sent
    box.type("happen?")
    assert box.input_value() == "Where does photosynthesis\nhappen?"
    expect(page.locator("article.msg.user")).to_have_count(0)
    box.press("Enter")
    answer = page.locator("article.msg.assistant").last
    expect(answer).to_have_attribute("aria-busy", "false")
    expect(page).to_have_url(re.compile(r"/classroom/SCI7/c/\d+$"))
    conversation_url = page.url
    # the new conversation is in the list at once, current, with a title cut at a word boundary
    current = page.locator('#conversation-list a[aria-current="page"]')
    expect(current).to_contain_text("Where does photosynthesis happen?")
    assert _left(page) == left - 1
    page.reload()
    assert page.url == conversation_url
    expect(page.locator("article.msg.user")).to_contain_text("photosynthesis")
    expect(page.locator('#conversation-list a[aria-current="page"]')).to_contain_text(
        "photosynthesis"
    )


def test_stop_ends_a_running_answer(browser_page, sign_in, live_server):
    page = browser_page
    sign_in(page, "student1")
    page.goto(live_server["url"] + "/classroom/SCI7")
    held = []
    page.route(
        "**/classroom/SCI7/ask", lambda route: held.append(route)
    )  # the answer never arrives
    page.locator("#question").fill("What is evaporation?")
    page.locator("#question").press("Enter")
    answer = page.locator("article.msg.assistant").last
    expect(
        answer.locator(".typing")
    ).to_be_attached()  # the typing indicator sits inside the bubble
    stop = page.get_by_role("button", name="Stop")
    expect(stop).to_be_visible()
    stop.click()
    expect(answer).to_contain_text("You stopped the answer.")
    expect(stop).to_be_hidden()
    expect(page.get_by_role("button", name="Ask", exact=True)).to_be_enabled()
    expect(answer.locator(".typing")).to_have_count(0)

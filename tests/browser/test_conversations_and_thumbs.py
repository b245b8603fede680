"""Conversations and thumbs in a real browser: a conversation shown as turns (as text, the earlier
turns folded), and a thumbs project judged by mouse and by keyboard, on desktop and phone.

Set LABELHUB_SCREENSHOTS=DIR to keep screenshots (the README's come from docs/screenshots)."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from annotations.models import Ranking
from tests.factories import completion_ids, make_project, make_prompt, make_user

from .test_labeling_page import XSS, log_in

pytestmark = pytest.mark.browser

CHAT = [
    {"role": "system", "content": "You are a patient cooking assistant."},
    {"role": "user", "content": "I want to bake bread."},
    {"role": "assistant", "content": "Great! Do you have yeast?"},
    {"role": "user", "content": "Only sourdough starter."},
    {"role": "assistant", "content": "Then we'll make a sourdough loaf. How active is your starter?"},
    {"role": "user", "content": "It doubles in 6 hours. " + XSS},
    {"role": "assistant", "content": "That's lively enough. Feed it the night before."},
    {"role": "user", "content": "What flour ratio should I use?"},
]
REPLIES = [
    "Use 500 g bread flour, 350 g water, 100 g starter and 10 g salt.",
    "Any flour works; just add water until it feels right.",
    "I recommend buying bread from a bakery.",
]


def snap(page: Page, name: str) -> None:
    folder = os.environ.get("LABELHUB_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def settle(page: Page) -> None:
    """Wait for the page's requests to finish (before the test database is flushed under them)."""
    page.wait_for_function("(document.querySelector('[data-thumbs-bench],[data-bench]')?.dataset.inflight ?? '0')"
                           " === '0'")


def open_page(page: Page, base_url: str, slug: str, username: str = "alice") -> None:
    page.set_default_timeout(60_000)  # the shared machine is often busy: generous waits, the same checks
    log_in(page, base_url, username, f"/projects/{slug}/label/")
    page.click('[data-action="accept-instructions"]')
    expect(page.locator("[data-completion-id]").first).to_be_visible()


@pytest.fixture
def chat_project(live_server):
    project = make_project("chat", name="Sourdough helper")
    make_user("alice", "labeler", project)
    return make_prompt(project, REPLIES, messages=CHAT)


@pytest.fixture
def thumbs_prompt(live_server):
    project = make_project("thumbs", name="Thumbs on bread", feedback="thumbs")
    make_user("alice", "labeler", project)
    return make_prompt(project, REPLIES, messages=CHAT)


def test_a_conversation_is_shown_as_turns_as_text_with_earlier_turns_folded(page, live_server, chat_project):
    open_page(page, live_server.url, "chat")
    turns = page.locator("[data-prompt] .turn")
    expect(turns).to_have_count(4)  # the last four of eight
    expect(turns.last.locator(".turn-role")).to_have_text("User")
    expect(turns.last).to_contain_text("What flour ratio should I use?")
    expect(turns.nth(2).locator(".turn-role")).to_have_text("Assistant")
    snap(page, "conversation")
    page.click("[data-show-earlier]")
    expect(turns).to_have_count(8)
    expect(turns.first.locator(".turn-role")).to_have_text("System")
    # The user's markup is text: shown as written, never run or parsed.
    expect(turns.nth(5)).to_contain_text(XSS)
    assert page.locator("[data-prompt] img, [data-prompt] script").count() == 0
    assert page.dialogs == []
    # The candidate cards are today's: rank by keyboard and submit.
    page.locator("[data-rank-list] [data-completion-id]").first.focus()
    page.click('[data-action="keep-order"]')
    page.keyboard.press("Enter")
    expect(page.locator("[data-empty]")).to_be_visible()
    settle(page)
    assert Ranking.objects.get().prompt_id == chat_project.pk


def test_conversation_on_a_phone_fits_the_width(phone_page, live_server, chat_project):
    open_page(phone_page, live_server.url, "chat")
    expect(phone_page.locator("[data-prompt] .turn")).to_have_count(4)
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone: {width}px"
    snap(phone_page, "conversation-phone")
    settle(phone_page)


def test_thumbs_by_mouse(page, live_server, thumbs_prompt):
    good, vague, off = completion_ids(thumbs_prompt)
    open_page(page, live_server.url, "thumbs")
    submit = page.locator('[data-action="submit"]')
    page.click(f'[data-completion-id="{good}"] [data-action="up"]')
    page.click(f'[data-completion-id="{vague}"] [data-action="down"]')
    expect(submit).to_be_disabled()  # one completion still to judge
    page.click(f'[data-completion-id="{off}"] [data-action="flag"]')
    expect(page.locator(f'[data-completion-id="{good}"] [data-action="up"]')).to_have_attribute("aria-pressed", "true")
    snap(page, "thumbs")
    expect(submit).to_be_enabled()
    submit.click()
    expect(page.locator("[data-empty]")).to_be_visible()
    settle(page)
    ranking = Ranking.objects.get()
    assert (ranking.tiers, ranking.flagged) == ([[good], [vague]], [off])


def test_thumbs_by_keyboard_on_a_phone_sized_page(phone_page, live_server, thumbs_prompt):
    page = phone_page
    open_page(page, live_server.url, "thumbs")
    shown = [int(i) for i in page.locator("[data-thumbs-list] [data-completion-id]").evaluate_all(
        "cards => cards.map(card => card.dataset.completionId)")]
    page.locator(f'[data-completion-id="{shown[0]}"]').focus()
    page.keyboard.press("u")  # focus moves on to the next completion to judge
    page.keyboard.press("d")
    page.keyboard.press("Enter")  # not everything judged yet: nothing is sent
    assert not Ranking.objects.exists()
    page.keyboard.press("f")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone: {width}px"
    snap(page, "thumbs-phone")
    page.keyboard.press("Enter")
    expect(page.locator("[data-empty]")).to_be_visible()
    settle(page)
    ranking = Ranking.objects.get()
    assert (ranking.tiers, ranking.flagged) == ([[shown[0]], [shown[1]]], [shown[2]])

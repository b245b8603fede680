"""The labeling page's second look: a labeler reopens a ranking from "Your recent rankings",
changes it and saves it as a new revision; identical completions are marked as such."""

import pytest
from playwright.sync_api import Page, expect

from annotations.models import Ranking, RankingRevision
from tests.browser.test_labeling_page import XSS, axe_violations, card, open_bench, shown_ids
from tests.factories import completion_ids, make_project, make_prompt, make_user

pytestmark = pytest.mark.browser


@pytest.fixture
def two_prompts(live_server):
    """A project with two prompts of four completions and alice, its labeler."""
    project = make_project("fix", name="Fixing")
    alice = make_user("alice", "labeler", project)
    first = make_prompt(project, ["Paris.", "It is Paris, on the Seine.", "Lyon.", "Bananas are yellow."],
                        text=f"What is the capital of France? {XSS}")
    second = make_prompt(project, ["Berlin.", "Bonn.", "It is Berlin.", "Cabbage."], text="And of Germany?")
    return {"url": live_server.url, "project": project, "alice": alice, "first": first, "second": second}


def open_recent(page: Page) -> None:
    page.get_by_text("Your recent rankings").click()
    expect(page.locator("[data-recent-list]")).to_be_visible()


def test_labeler_reopens_a_ranking_changes_it_and_saves_revision_2(page: Page, two_prompts):
    open_bench(page, two_prompts["url"], "alice", "fix")
    first_ids = shown_ids(page)
    first_is_first = set(first_ids) == set(completion_ids(two_prompts["first"]))
    first_prompt = two_prompts["first"] if first_is_first else two_prompts["second"]
    page.click('[data-action="keep-order"]')
    page.click('[data-action="submit"]')
    expect(page.locator("[data-session-count]")).to_have_text("1")
    ranking = Ranking.objects.get()
    assert ranking.tiers == [[i] for i in first_ids] and ranking.revision == 1

    # The labeler has started on the second task when they notice their mistake.
    expect(card(page, first_ids[0])).to_have_count(0)
    second_ids = shown_ids(page)
    assert not set(second_ids) & set(first_ids)
    card(page, second_ids[3]).focus()
    page.keyboard.press("k")
    arranged = shown_ids(page)
    assert arranged == [second_ids[0], second_ids[1], second_ids[3], second_ids[2]]

    open_recent(page)
    entry = page.locator('[data-action="open-ranking"]')
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text(first_prompt.text)  # the prompt's text, as text
    assert page.locator("[data-recent-list] b, [data-recent-list] img").count() == 0
    entry.click()

    expect(page.locator("[data-revision-banner]")).to_be_visible()
    expect(entry).to_have_attribute("aria-current", "true")
    expect(page.locator("[data-prompt]")).to_have_text(first_prompt.text)
    assert shown_ids(page) == first_ids  # the ranking as submitted
    save = page.get_by_role("button", name="Save changes")
    expect(save).to_be_visible()
    expect(save).to_be_disabled()  # nothing changed yet
    expect(page.locator('[data-action="submit"]')).to_be_hidden()
    a, b, c, d = first_ids
    card(page, d).focus()
    page.keyboard.press("k")  # d above c
    card(page, b).focus()
    page.keyboard.press("f")  # b is nonsense after all
    expect(save).to_be_enabled()
    save.click()

    expect(page.locator("[data-status]")).to_contain_text("saved (revision 2)")
    expect(page.locator("[data-revision-banner]")).to_be_hidden()
    assert shown_ids(page) == arranged  # back to the current task, as the labeler left it
    expect(page.locator('[data-action="submit"]')).to_be_visible()
    expect(page.locator("[data-session-count]")).to_have_text("1")

    ranking.refresh_from_db()
    assert ranking.revision == 2
    assert ranking.tiers == [[a], [d], [c]] and ranking.flagged == [b]
    earlier = RankingRevision.objects.get(ranking=ranking)
    assert earlier.revision == 1 and earlier.tiers == [[i] for i in first_ids] and earlier.flagged == []
    expect(page.locator('[data-action="open-ranking"]')).to_contain_text("revision 2")

    # The current task is still there to finish, and the list survives a reload.
    page.click('[data-action="submit"]')
    expect(page.locator("[data-session-count]")).to_have_text("2")
    assert Ranking.objects.count() == 2
    page.reload()
    open_recent(page)
    expect(page.locator('[data-action="open-ranking"]')).to_have_count(2)
    expect(page.locator('[data-action="open-ranking"]').last).to_contain_text("revision 2")


def test_cancel_leaves_the_ranking_as_it_was(page: Page, two_prompts, axe_source):
    open_bench(page, two_prompts["url"], "alice", "fix")
    first_ids = shown_ids(page)
    page.click('[data-action="keep-order"]')
    page.click('[data-action="submit"]')
    expect(page.locator("[data-session-count]")).to_have_text("1")
    open_recent(page)
    page.locator('[data-action="open-ranking"]').click()
    expect(page.locator("[data-revision-banner]")).to_be_visible()
    card(page, first_ids[0]).focus()
    page.keyboard.press("j")
    assert axe_violations(page, axe_source) == []  # the recent list open, a revision under way
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("[data-revision-banner]")).to_be_hidden()
    expect(page.locator('[data-action="submit"]')).to_be_visible()
    ranking = Ranking.objects.get()
    assert ranking.revision == 1 and ranking.tiers == [[i] for i in first_ids]
    assert not RankingRevision.objects.exists()


def test_a_labeler_with_nothing_left_can_still_revise(page: Page, two_prompts):
    open_bench(page, two_prompts["url"], "alice", "fix")
    for done in ("1", "2"):
        page.click('[data-action="keep-order"]')
        page.click('[data-action="submit"]')
        expect(page.locator("[data-session-count]")).to_have_text(done)
    expect(page.locator("[data-empty]")).to_be_visible()
    open_recent(page)
    page.locator('[data-action="open-ranking"]').first.click()  # newest first: the second prompt
    expect(page.locator("[data-revision-banner]")).to_be_visible()
    ids = shown_ids(page)
    card(page, ids[1]).focus()
    page.keyboard.press("t")  # a tie with the card above
    page.keyboard.press("Enter")  # Enter saves while revising
    expect(page.locator("[data-status]")).to_contain_text("saved (revision 2)")
    expect(page.locator("[data-empty]")).to_be_visible()
    revised = Ranking.objects.get(revision=2)
    assert set(revised.assignment.prompt.completions.values_list("id", flat=True)) == set(ids)
    assert [sorted(tier) for tier in revised.tiers] == [sorted(ids[:2]), [ids[2]], [ids[3]]]


def test_identical_completions_are_marked(page: Page, live_server):
    project = make_project("twins")
    make_user("bob", "labeler", project)
    prompt = make_prompt(project, ["Paris.", "  paris.\n", "Lyon.", "Paris!"])
    paris, paris_again, lyon, paris_bang = completion_ids(prompt)
    open_bench(page, live_server.url, "bob", "twins")
    for twin, other in ((paris, paris_again), (paris_again, paris)):
        note = card(page, twin).locator("[data-duplicate]")
        expect(note).to_be_visible()
        rank = card(page, other).locator("[data-rank]").text_content()
        expect(note).to_have_text(f"Duplicate Same text as #{rank}")
    for alone in (lyon, paris_bang):
        expect(card(page, alone).locator("[data-duplicate]")).to_be_hidden()
    card(page, paris_again).focus()
    page.keyboard.press("f")  # the note follows its twin into the flagged area
    expect(card(page, paris).locator("[data-duplicate]")).to_have_text("Duplicate Same text as a flagged card")


def test_recent_rankings_and_revising_fit_a_phone(phone_page: Page, two_prompts):
    open_bench(phone_page, two_prompts["url"], "alice", "fix")
    first_ids = shown_ids(phone_page)
    phone_page.click('[data-action="keep-order"]')
    phone_page.click('[data-action="submit"]')
    expect(phone_page.locator("[data-session-count]")).to_have_text("1")
    open_recent(phone_page)
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    phone_page.locator('[data-action="open-ranking"]').click()
    expect(phone_page.locator("[data-revision-banner]")).to_be_visible()
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    card(phone_page, first_ids[0]).locator('[data-action="flag"]').click()
    save = phone_page.get_by_role("button", name="Save changes")
    box = save.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["height"] >= 40
    save.click()
    expect(phone_page.locator("[data-status]")).to_contain_text("saved (revision 2)")
    assert Ranking.objects.get(assignment__prompt__completions__id=first_ids[0]).flagged == [first_ids[0]]


def test_changes_saved_offline_are_sent_when_the_connection_is_back(page: Page, two_prompts):
    open_bench(page, two_prompts["url"], "alice", "fix")
    first_ids = shown_ids(page)
    page.click('[data-action="keep-order"]')
    page.click('[data-action="submit"]')
    expect(page.locator("[data-session-count]")).to_have_text("1")
    open_recent(page)
    page.locator('[data-action="open-ranking"]').click()
    expect(page.locator("[data-revision-banner]")).to_be_visible()
    card(page, first_ids[2]).focus()
    page.keyboard.press("k")
    page.context.set_offline(True)
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("[data-status]")).to_contain_text("offline — will save your changes")
    assert Ranking.objects.get().revision == 1
    page.context.set_offline(False)
    expect(page.locator("[data-status]")).to_contain_text("saved (revision 2)")
    a, b, c, d = first_ids
    assert Ranking.objects.get().tiers == [[a], [c], [b], [d]]

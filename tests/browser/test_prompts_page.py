"""The prompts browser in a real browser: a researcher searches, keeps only the disputed prompts,
opens one and sees its rankings side by side under pseudonyms, then goes back to the same search."""

import pytest
from playwright.sync_api import Page, expect

from annotations.models import Prompt
from annotations.quality import labeler_pseudonym
from tests.export_builders import rank
from tests.factories import make_project, make_prompt, make_user

from .test_labeling_page import axe_violations, log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def library(live_server):
    """Three basil prompts (one disputed, one agreed, one not ranked) and one about monads (disputed)."""
    project = make_project("helpful", name="Helpfulness")
    make_user("rita", "researcher", project)
    alice = make_user("alice", "labeler", project)
    bob = make_user("bob", "labeler", project)
    disputed = make_prompt(project, ["Water it daily.", "Give it sun.", "<b>Sing</b> to it."],
                           external_id="basil-1", text="How do I keep basil alive?")
    agreed = make_prompt(project, 3, external_id="basil-2", text="Can basil grow indoors?")
    make_prompt(project, 3, external_id="basil-3", text="When is basil ready to pick?")
    monads = make_prompt(project, 3, external_id="fp-1", text="What is a monad?")
    for prompt in (disputed, agreed, monads):
        rank(prompt, alice, [[1], [2], [3]])
    rank(disputed, bob, [[3], [2]], flagged=[1])
    rank(agreed, bob, [[1], [2], [3]])
    rank(monads, bob, [[3], [2], [1]])
    Prompt.objects.filter(pk__in=[disputed.pk, monads.pk]).update(agreement=0.0)
    Prompt.objects.filter(pk=agreed.pk).update(agreement=1.0)
    return {"url": live_server.url, "project": project, "disputed": disputed, "alice": alice}


def test_researcher_searches_filters_disputed_and_opens_a_prompt(page: Page, library, axe_source):
    log_in(page, library["url"], "rita", "/projects/helpful/prompts/")
    rows = page.locator("[data-prompt]")
    expect(rows).to_have_count(4)
    assert axe_violations(page, axe_source) == []

    page.get_by_label("Search").fill("BASIL")
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(3)

    page.get_by_label("Disputed", exact=True).check()
    page.get_by_role("button", name="Search").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("basil-1")
    expect(rows.first).to_contain_text("disputed")
    expect(page.get_by_text("agreement below 0.75")).to_be_visible()
    assert "q=BASIL" in page.url and "disputed=1" in page.url

    page.get_by_role("link", name="basil-1").click()
    expect(page.get_by_role("heading", name="Prompt basil-1")).to_be_visible()
    table = page.locator("[data-rankings-side-by-side]")
    expect(table.locator("thead th")).to_have_count(4)  # completion, two labelers, consensus
    pseudonym = labeler_pseudonym(library["project"], library["alice"].pk)
    expect(table.locator(f'th[data-labeler="{pseudonym}"]')).to_contain_text(pseudonym)
    expect(table).not_to_contain_text("alice")
    expect(table.get_by_text("<b>Sing</b> to it.")).to_be_visible()  # as text, not bold
    expect(table.locator("b")).to_have_count(0)
    assert axe_violations(page, axe_source) == []

    page.locator("[data-back]").click()
    expect(rows).to_have_count(1)
    expect(page.get_by_label("Search")).to_have_value("BASIL")
    expect(page.get_by_label("Disputed", exact=True)).to_be_checked()


def test_on_a_phone_the_page_does_not_scroll_sideways(phone_page: Page, library):
    log_in(phone_page, library["url"], "rita", "/projects/helpful/prompts/")
    expect(phone_page.locator("[data-prompt]")).to_have_count(4)
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    phone_page.goto(f"{library['url']}/projects/helpful/prompts/{library['disputed'].pk}/")
    expect(phone_page.locator("[data-rankings-side-by-side]")).to_be_visible()
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390

"""The instructions and team pages in Chromium: a non-staff project admin publishes version 2 of
the instructions while the preview follows the text, then creates an invite link that a newcomer,
in a separate browser context, opens to join the project."""

import pytest
from playwright.sync_api import Browser, Page, expect

from annotations.models import InstructionVersion, Membership
from annotations.projects import set_instructions
from annotations.team import create_invite
from tests.factories import make_project, make_user

from .test_labeling_page import axe_violations, log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def team(live_server):
    project = make_project("helpful", name="Helpfulness")
    make_user("pam", "admin", project)
    make_user("alice", "labeler", project)
    return {"url": live_server.url, "project": project}


def test_admin_publishes_version_two_with_a_live_preview(page: Page, team):
    log_in(page, team["url"], "pam", "/projects/helpful/instructions/")
    preview = page.locator("[data-instructions-preview]")
    expect(preview.locator("h1")).to_have_text("Rank by helpfulness")

    editor = page.get_by_label("New version")
    editor.fill("# Rank by helpfulness\n\nBest first. **Flag** anything in Klingon.\n\n<b>not bold</b>")
    expect(preview.locator("strong")).to_have_text("Flag")
    expect(preview).to_contain_text("<b>not bold</b>")  # raw HTML shows as text, as labelers see it
    expect(preview.locator("b")).to_have_count(0)

    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_text("Published version 2.")).to_be_visible()
    versions = page.locator("[data-version]")
    expect(versions).to_have_count(2)
    expect(versions.first).to_have_attribute("data-version", "2")
    expect(versions.first.locator(".diff-added")).to_contain_text(["Best first. **Flag** anything in Klingon."])
    expect(versions.first.locator(".diff-removed")).to_contain_text(["Best first."])
    assert InstructionVersion.objects.filter(project=team["project"]).count() == 2

    # Publishing nothing is refused, and says why.
    page.get_by_label("New version").fill("   ")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("alert")).to_contain_text("The instructions cannot be empty")


def test_admin_invites_a_newcomer_who_joins_from_another_browser(page: Page, browser: Browser, team):
    log_in(page, team["url"], "pam", "/projects/helpful/team/")
    expect(page.locator("tr[data-member]")).to_have_count(2)
    page.get_by_label("Invite as").select_option("labeler")
    page.get_by_role("button", name="Create invite link").click()
    url = page.locator("[data-invite-url]").inner_text().strip()
    assert url.startswith(f"{team['url']}/invite/")

    newcomer = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        other = newcomer.new_page()
        other.goto(url)
        expect(other.get_by_role("heading", name="Join Helpfulness")).to_be_visible()
        other.get_by_label("Username").fill("nora")
        other.get_by_label("Password", exact=True).fill("lunar-tractor-melody-42")
        other.get_by_label("Password (again)").fill("lunar-tractor-melody-42")
        other.get_by_role("button", name="Join").click()
        expect(other.get_by_text("You joined Helpfulness as labeler.")).to_be_visible()
        assert Membership.objects.filter(user__username="nora", project=team["project"], role="labeler").exists()

        # The same link a second time: a page that says so.
        second = newcomer.new_page()
        second.goto(url)
        expect(second.get_by_text("This invite link has already been used.")).to_be_visible()
    finally:
        newcomer.close()

    page.reload()
    row = page.locator('tr[data-member="nora"]')
    expect(row.locator("[data-roles]")).to_have_text("labeler")
    row.get_by_role("button", name="Remove").click()
    expect(page.get_by_text("nora was removed from the project")).to_be_visible()
    expect(page.locator('tr[data-member="nora"]')).to_have_count(0)


def test_instructions_team_and_invite_pages_have_no_serious_accessibility_violations(page: Page, team, axe_source):
    set_instructions(team["project"], "# Rank by helpfulness\n\nBest first, then flag nonsense.")
    log_in(page, team["url"], "pam", "/projects/helpful/instructions/")
    assert axe_violations(page, axe_source) == []
    page.goto(f"{team['url']}/projects/helpful/team/")
    page.get_by_role("button", name="Create invite link").click()
    assert axe_violations(page, axe_source) == []
    _, token = create_invite(team["project"], "researcher")
    page.context.clear_cookies()
    page.goto(f"{team['url']}/invite/{token}/")
    assert axe_violations(page, axe_source) == []
    page.goto(f"{team['url']}/invite/no-such-token/")
    assert axe_violations(page, axe_source) == []

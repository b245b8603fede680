"""Project pages in Chromium: a site admin creates a project at /projects/new/ and lands on its
dashboard with the six links; bad input comes back with the field's message; a researcher's
dashboard has the three read-only links; the quality page's canary form is laid out on one row."""

import pytest
from playwright.sync_api import Page, expect

from annotations.models import Membership, Project
from tests.factories import make_project, make_user

from .test_labeling_page import log_in

pytestmark = pytest.mark.browser

SIX_LINKS = ["Prompts", "Team", "Instructions", "Settings", "Quality", "Exports"]


def test_site_admin_creates_a_project_and_lands_on_its_dashboard(page: Page, live_server):
    make_user("ada", "admin")
    log_in(page, live_server.url, "ada", "/")
    page.get_by_role("link", name="New project").click()
    page.get_by_label("Name").fill("Harmlessness")
    page.get_by_label("Slug").fill("harmless")
    page.get_by_label("Criterion").fill("harmlessness")
    page.get_by_label("Labelers per prompt").fill("0")
    page.get_by_label("Allow ties").uncheck()
    page.get_by_label("Instructions").fill("# Be careful\n\nThe safest answer first.")
    page.get_by_role("button", name="Create project").click()

    # k = 0 is refused next to its field; what was typed is kept.
    expect(page.locator('[data-field="labelers_per_prompt"] .field-error')).to_contain_text(
        "Labelers per prompt must be from 1 to 50")
    expect(page.get_by_label("Name")).to_have_value("Harmlessness")
    assert not Project.objects.exists()

    page.get_by_label("Labelers per prompt").fill("5")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url(f"{live_server.url}/projects/harmless/")
    expect(page.get_by_role("heading", name="Harmlessness")).to_be_visible()
    nav = page.get_by_role("navigation", name="Project pages")
    for name in SIX_LINKS:
        expect(nav.get_by_role("link", name=name, exact=True)).to_be_visible()
    expect(nav.get_by_role("link")).to_have_text(SIX_LINKS)
    project = Project.objects.get(slug="harmless")
    assert (project.labelers_per_prompt, project.allow_ties, project.criterion) == (5, False, "harmlessness")
    assert Membership.objects.filter(project=project, user__username="ada", role="admin").exists()

    page.get_by_role("link", name="Settings", exact=True).click()
    page.get_by_label("API key environment variable").fill("sk-live-123")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator('[data-field="llm_api_key_env"] .field-error')).to_contain_text("never the key itself")
    page.get_by_label("API key environment variable").fill("OPENAI_API_KEY")
    page.get_by_label("Reservation minutes").fill("15")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".messages")).to_contain_text("Settings saved")
    project.refresh_from_db()
    assert (project.llm_api_key_env, project.reservation_minutes) == ("OPENAI_API_KEY", 15)


def test_researcher_dashboard_has_the_read_only_links(page: Page, live_server):
    project = make_project("helpful", name="Helpfulness")
    make_user("rita", "researcher", project)
    log_in(page, live_server.url, "rita", "/")
    page.get_by_role("link", name="Open").click()
    page.wait_for_url(f"{live_server.url}/projects/helpful/")
    expect(page.get_by_role("navigation", name="Project pages").get_by_role("link")).to_have_text(
        ["Prompts", "Quality", "Exports"])
    page.get_by_role("link", name="Quality", exact=True).click()
    expect(page.get_by_role("heading", name="Canaries")).to_be_visible()
    expect(page.locator("[data-canary-form]")).to_have_count(0)


def test_canary_form_sits_on_one_row(page: Page, live_server):
    project = make_project("helpful", name="Helpfulness")
    make_user("olga", "admin", project)
    log_in(page, live_server.url, "olga", "/projects/helpful/quality/")
    checkbox = page.get_by_label("Add canaries").bounding_box()
    share = page.get_by_label("Share of the prompts").bounding_box()
    button = page.get_by_role("button", name="Save canary settings").bounding_box()
    assert checkbox["width"] < 40  # a checkbox, not a full-width input
    assert share["width"] < 200
    bottoms = [box["y"] + box["height"] for box in (share, button)]
    assert abs(bottoms[0] - bottoms[1]) < 12 and share["x"] < button["x"]


def test_project_pages_have_no_serious_accessibility_violations(page: Page, live_server, axe_source):
    from tests.export_builders import rank
    from tests.factories import make_prompt

    from .test_labeling_page import axe_violations

    project = make_project("helpful", name="Helpfulness")
    alice = make_user("alice", "labeler", project)
    make_user("ada", "admin")
    rank(make_prompt(project, 3), alice, [[1], [2], [3]])
    log_in(page, live_server.url, "ada", "/")
    for path in ["/", "/projects/new/", "/projects/helpful/", "/projects/helpful/settings/",
                 "/projects/helpful/quality/"]:
        page.goto(f"{live_server.url}{path}")
        assert axe_violations(page, axe_source) == [], path
    page.goto(f"{live_server.url}/projects/new/")
    page.get_by_role("button", name="Create project").click()  # every field's error shown
    assert axe_violations(page, axe_source) == []


def test_project_pages_fit_a_phone(phone_page: Page, live_server):
    from tests.export_builders import rank
    from tests.factories import make_prompt

    project = make_project("helpful", name="Helpfulness")
    labelers = [make_user(name, "labeler", project) for name in ("alice", "bob")]
    make_user("olga", "admin", project)
    for _ in range(3):
        prompt = make_prompt(project, 3)
        for labeler in labelers:
            rank(prompt, labeler, [[1], [2], [3]])
    log_in(phone_page, live_server.url, "olga", "/")
    for path in ["/", "/projects/helpful/", "/projects/helpful/settings/", "/projects/helpful/quality/",
                 f"/projects/helpful/quality/prompts/{prompt.pk}/"]:
        phone_page.goto(f"{live_server.url}{path}")
        assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390, path

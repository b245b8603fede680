"""The labeling page runs under a Content-Security-Policy without 'unsafe-inline' (PRODUCT,
"Operations and limits"): its script is modules loaded from the site, its data in data- attributes."""

from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.test_labeling_page import log_in, shown_ids
from tests.factories import make_project, make_prompt, make_user

pytestmark = pytest.mark.browser

STRICT = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'"


def with_strict_policy(route: Route) -> None:
    response = route.fetch()
    route.fulfill(response=response, headers={**response.headers, "content-security-policy": STRICT})


def test_labeling_page_works_under_a_strict_content_security_policy(page: Page, live_server):
    project = make_project("strict")
    make_user("erin", "labeler", project)
    make_prompt(project, ["Same.", "same.", "Other."])
    violations = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text
            else None)
    # Playwright does not route the request a redirect leads to: the page is opened directly.
    page.route(lambda url: urlparse(url).path == "/projects/strict/label/", with_strict_policy)
    log_in(page, live_server.url, "erin")
    page.goto(f"{live_server.url}/projects/strict/label/")
    page.click('[data-action="accept-instructions"]')  # the gate, under the policy
    response = page.goto(f"{live_server.url}/projects/strict/label/")
    assert response.headers["content-security-policy"] == STRICT
    expect(page.locator("[data-rank-list] [data-completion-id]")).to_have_count(3)
    ids = shown_ids(page)
    expect(page.locator("[data-duplicate]:visible")).to_have_count(2)
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page.locator("[data-session-count]")).to_have_text("1")
    page.get_by_text("Your recent rankings").click()
    page.locator('[data-action="open-ranking"]').click()
    expect(page.get_by_role("button", name="Save changes")).to_be_visible()
    assert sorted(shown_ids(page)) == sorted(ids)
    assert violations == []

"""The quality page's model leaderboard in Chromium: the chart draws one dot and one interval per
model, best first, each dot inside its interval, beside the table; it fits a phone; axe finds no
serious violation."""

import pytest
from playwright.sync_api import Page, expect

from tests.factories import make_project, make_user
from tests.test_leaderboard_api import prompt_of

from .test_labeling_page import log_in

pytestmark = pytest.mark.browser


def leaderboard_project():
    from tests.export_builders import rank

    project = make_project("helpful", name="Helpfulness")
    alice = make_user("alice", "labeler", project)
    make_user("rita", "researcher", project)
    # strong > medium > weak, but for one upset each: medium over strong (i = 4), weak over medium (i = 0)
    for i in range(8):
        prompt = prompt_of(project, ["strong", "medium", "weak"], [300, 200, 100])
        rank(prompt, alice, [[1], [2], [3]] if i % 4 else [[2], [1], [3]] if i % 8 else [[1], [3], [2]])
    return project


def test_the_leaderboard_chart_renders_intervals_best_first(page: Page, live_server):
    leaderboard_project()
    log_in(page, live_server.url, "rita", "/projects/helpful/quality/")
    chart = page.locator('svg[data-chart="leaderboard"]')
    expect(chart).to_be_visible()
    models = chart.locator("g[data-model]")
    expect(models).to_have_count(3)
    assert [models.nth(i).get_attribute("data-model") for i in range(3)] == ["strong", "medium", "weak"]
    for i in range(3):
        dot = models.nth(i).locator("circle").bounding_box()
        line = models.nth(i).locator("line[data-interval]").bounding_box()
        assert dot["width"] > 4 and line["width"] > 0  # drawn, with a visible interval
        centre = dot["x"] + dot["width"] / 2
        assert line["x"] - 0.5 <= centre <= line["x"] + line["width"] + 0.5
    dots = [models.nth(i).locator("circle").bounding_box()["x"] for i in range(3)]
    assert dots[0] > dots[1] > dots[2]  # higher score further right
    table = page.locator("[data-leaderboard-table]")
    expect(table.locator("tbody tr")).to_have_count(3)
    # strong: the longer completion won 15 of its 16 pairs
    expect(table.locator("tbody tr").first.locator("[data-longer-won]")).to_have_text("94%")


def test_the_leaderboard_fits_a_phone_and_has_no_serious_violations(phone_page: Page, live_server, axe_source):
    from .test_labeling_page import axe_violations

    leaderboard_project()
    log_in(phone_page, live_server.url, "rita", "/projects/helpful/quality/")
    expect(phone_page.locator('svg[data-chart="leaderboard"]')).to_be_visible()
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    assert axe_violations(phone_page, axe_source) == []

"""A whole project run in the browser, from an empty database with only a site admin, by a
project admin who is NOT staff: create → invite an admin, labelers and a researcher (each opens
the link and joins) → upload → generate against the fixture LLM server (a real Celery worker) →
labelers rank → instructions v2 → the gate again, a ranking under v2 → a revision → the
researcher opens Quality and exports → the bundle records versions 1 and 2 and the revision.

Set LABELHUB_SCREENSHOTS=DIR to keep screenshots of the dashboard, team, instructions and
prompts pages (README's pictures)."""

import io
import json
import os
import time
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from annotations.models import Completion, Export, Membership, Ranking, RankingRevision
from tests.factories import PASSWORD, make_user
from tests.llm_server import FakeLLM

from .conftest import DESKTOP
from .test_labeling_page import log_in

pytestmark = [pytest.mark.browser, pytest.mark.worker]

PROMPTS = [
    {"id": "q1", "prompt": "How do I boil an egg?"},
    {"id": "q2", "prompt": "Name a prime number above 10."},
    {"id": "q3", "prompt": "What is <b>bold</b> in HTML?"},
]


def snap(page: Page, name: str) -> None:
    folder = os.environ.get("LABELHUB_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def new_page(browser: Browser) -> Page:
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.js_errors = errors
    return page


def invite(page: Page, base: str, slug: str, role: str) -> str:
    """As a project admin on the team page: create an invite link for `role`, return its URL."""
    page.goto(f"{base}/projects/{slug}/team/")
    page.get_by_label("Invite as").select_option(role)
    page.get_by_role("button", name="Create invite link").click()
    url = page.locator("[data-invite-url]").inner_text().strip()
    assert url.startswith(base) and "/invite/" in url
    return url


def join(browser: Browser, url: str, username: str) -> Page:
    """A newcomer opens the invite link in their own browser and joins; returns their page."""
    page = new_page(browser)
    page.goto(url)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Join").click()
    page.wait_for_load_state()
    return page


def wait_for(condition, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def rank_tasks(page: Page, base: str, slug: str, count: int) -> None:
    """On the labeling page: pass the gate if shown, then rank `count` tasks in the order shown
    (dragging and the keyboard have their own tests in test_labeling_page.py)."""
    page.goto(f"{base}/projects/{slug}/label/")
    gate = page.locator('[data-action="accept-instructions"]')
    if gate.count():
        gate.click()
    previous = None
    for done in range(count):
        prompt = page.locator("[data-prompt]")
        if previous is not None:
            expect(prompt).not_to_have_text(previous)  # the next task is on screen
        previous = prompt.inner_text()
        expect(page.locator("[data-rank-list] [data-completion-id]").first).to_be_visible()
        page.click('[data-action="keep-order"]')
        page.click('[data-action="submit"]')
        expect(page.locator("[data-session-count]")).to_have_text(str(done + 1))


def test_a_non_staff_admin_runs_a_whole_project_in_the_browser(browser: Browser, live_server, celery_worker,
                                                                 tmp_path):
    base = live_server.url
    make_user("sam", "admin")  # the site admin, the only user

    with FakeLLM(model="fixture-model") as llm:
        # The site admin creates the project and invites its admin.
        sam = new_page(browser)
        log_in(sam, base, "sam", "/")
        sam.get_by_role("link", name="New project").click()
        sam.get_by_label("Name").fill("Egg trial")
        sam.get_by_label("Slug").fill("eggs")
        sam.get_by_label("Criterion").fill("helpfulness")
        sam.get_by_label("Labelers per prompt").fill("2")
        sam.get_by_label("Instructions").fill("# Version one\n\nRank the most helpful answer first.")
        sam.get_by_role("button", name="Create project").click()
        sam.wait_for_url(f"{base}/projects/eggs/")
        pat = join(browser, invite(sam, base, "eggs", "admin"), "pat")
        assert Membership.objects.filter(user__username="pat", project__slug="eggs", role="admin").exists()
        assert not Membership.objects.get(user__username="pat").user.is_staff

        # pat, a project admin who is not staff, builds the team: two labelers, a researcher.
        lea = join(browser, invite(pat, base, "eggs", "labeler"), "lea")
        leo = join(browser, invite(pat, base, "eggs", "labeler"), "leo")
        rita = join(browser, invite(pat, base, "eggs", "researcher"), "rita")
        pat.goto(f"{base}/projects/eggs/team/")
        for name in ("pat", "lea", "leo", "rita"):
            expect(pat.locator("main")).to_contain_text(name)
        snap(pat, "team-page")

        # Generation settings, the upload, and generation by the real worker.
        pat.goto(f"{base}/projects/eggs/settings/")
        pat.get_by_label("Generate completions").check()
        pat.get_by_label("Target completions per prompt").fill("3")
        pat.get_by_label("Base URL").fill(llm.base_url)
        pat.get_by_label("Model").fill("fixture-model")
        pat.get_by_role("button", name="Save settings").click()
        expect(pat.locator(".messages")).to_contain_text("Settings saved")
        pat.goto(f"{base}/projects/eggs/")
        upload = tmp_path / "prompts.jsonl"
        upload.write_text("".join(json.dumps(row) + "\n" for row in PROMPTS))
        pat.set_input_files("#prompt-set-file", str(upload))
        pat.locator("[data-upload-form] button[type=submit]").click()
        expect(pat.locator("main")).to_contain_text("Imported 3 prompts")
        pat.click('[data-action="generate"]')
        wait_for(lambda: Completion.objects.filter(prompt__project__slug="eggs").count() == 9, "9 completions")
        assert len(llm.requests) >= 9

        # Both labelers rank under version 1 (lea two prompts, leo all three).
        rank_tasks(lea, base, "eggs", 2)
        rank_tasks(leo, base, "eggs", 3)

        # pat publishes version 2; lea meets the gate again and ranks the last prompt under it.
        pat.goto(f"{base}/projects/eggs/instructions/")
        pat.get_by_label("New version").fill("# Version two\n\nRank the most helpful answer first; flag nonsense.")
        expect(pat.locator("[data-instructions-preview]")).to_contain_text("Version two")
        pat.get_by_role("button", name="Publish").click()
        expect(pat.locator("main")).to_contain_text("Version two")
        snap(pat, "instructions-page")
        lea.goto(f"{base}/projects/eggs/label/")
        expect(lea.locator('[data-action="accept-instructions"]')).to_be_visible()
        expect(lea.locator("main")).to_contain_text("Version two")
        rank_tasks(lea, base, "eggs", 1)
        assert set(Ranking.objects.filter(labeler__username="lea").values_list("instruction_version", flat=True)) \
            == {1, 2}

        # lea revises her first ranking from "Your recent rankings".
        lea.get_by_text("Your recent rankings").click()
        entries = lea.locator('[data-action="open-ranking"]')
        expect(entries).to_have_count(3)
        entries.last.click()  # the oldest
        save = lea.get_by_role("button", name="Save changes")
        expect(save).to_be_visible()
        cards = lea.locator("[data-rank-list] [data-completion-id]")
        cards.last.focus()
        lea.keyboard.press("k")
        save.click()
        expect(lea.locator("[data-status]")).to_contain_text("revision 2")
        revised = Ranking.objects.get(labeler__username="lea", revision=2)
        assert RankingRevision.objects.filter(ranking=revised, revision=1).exists()

        pat.goto(f"{base}/projects/eggs/")
        expect(pat.locator('[data-count="rankings"]')).to_have_text("6")
        snap(pat, "dashboard")
        pat.goto(f"{base}/projects/eggs/prompts/")
        snap(pat, "prompts-page")

        # The researcher reads the quality page and exports.
        rita.goto(f"{base}/projects/eggs/quality/")
        expect(rita.get_by_role("heading", level=1)).to_be_visible()
        assert rita.locator("[data-canary-form]").count() == 0
        rita.goto(f"{base}/projects/eggs/exports/")
        rita.get_by_role("button", name="Start export").click()
        export = Export.objects.get()
        wait_for(lambda: Export.objects.get(pk=export.pk).status == "done", "the export")
        row = rita.locator(f'[data-export="{export.pk}"]')
        expect(row.locator("[data-action='download']")).to_be_visible()
        with rita.expect_download() as download_info:
            row.locator("[data-action='download']").click()
        bundle = tmp_path / "bundle.zip"
        download_info.value.save_as(bundle)

    with zipfile.ZipFile(bundle) as archive:
        rankings = [json.loads(line) for line in io.TextIOWrapper(archive.open("rankings.jsonl"))]
        manifest = json.loads(archive.read("manifest.json"))
        card = archive.read("README.md").decode()
        pairs = [json.loads(line) for line in io.TextIOWrapper(archive.open("pairs.jsonl"))]
    assert len(rankings) == 6
    assert {r["instructions_version"] for r in rankings} == {1, 2}
    assert sorted(r["revision"] for r in rankings) == [1, 1, 1, 1, 1, 2]
    assert "Version one" in card and "Version two" in card
    assert "1" in json.dumps(manifest) and "2" in json.dumps(manifest)
    assert pairs and all(pair["chosen"] != pair["rejected"] for pair in pairs)
    assert "<b>bold</b>" in {pair["prompt"] for pair in pairs} or any("<b>" in p["prompt"] for p in pairs)
    for page in (sam, pat, lea, leo, rita):
        assert not page.js_errors, page.js_errors
        page.context.close()

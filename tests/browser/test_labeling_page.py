"""The labeler's bench in a real browser: log in, read the instructions, rank by mouse and by
keyboard, and check what is stored."""

import io
import re

import pytest
from django.core.management import call_command
from playwright.sync_api import Page, expect

from annotations.models import Assignment, InstructionAcceptance, Prompt, Ranking
from annotations.projects import set_instructions
from tests.factories import PASSWORD, make_project, make_prompt, make_user

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)><script>alert(2)</script>"


@pytest.fixture
def bench(live_server):
    """A project with one four-completion prompt and alice, its labeler."""
    project = make_project("helpful", name="Helpfulness")
    alice = make_user("alice", "labeler", project)
    prompt = make_prompt(project, ["Paris.", "It is Paris, on the Seine.", "Lyon.", "Bananas are yellow."],
                         text="What is the capital of France?")
    return {"url": live_server.url, "project": project, "alice": alice, "prompt": prompt}


def log_in(page: Page, base_url: str, username: str, next_path: str = "/") -> None:
    page.goto(f"{base_url}/accounts/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}{next_path}")


def open_bench(page: Page, base_url: str, username: str = "alice", slug: str = "helpful") -> None:
    """Log in through the login page, pass the instructions gate, wait for the first task."""
    log_in(page, base_url, username, f"/projects/{slug}/label/")
    page.click('[data-action="accept-instructions"]')
    expect(page.locator("[data-rank-list] [data-completion-id]").first).to_be_visible()


def shown_ids(page: Page) -> list[int]:
    return [int(i) for i in page.locator("[data-rank-list] [data-completion-id]").evaluate_all(
        "cards => cards.map(card => card.dataset.completionId)")]


def card(page: Page, completion_id: int):
    return page.locator(f'[data-completion-id="{completion_id}"]')


def settled_box(page: Page, completion_id: int) -> dict:
    """The card's box once it stops moving: after a drop, SortableJS animates the cards into place,
    and a box read mid-animation would aim the next drag at where the card was."""
    box = card(page, completion_id).bounding_box()
    for _ in range(50):
        page.wait_for_timeout(40)
        again = card(page, completion_id).bounding_box()
        if again == box:
            return box
        box = again
    return box


def drag_above(page: Page, moving: int, target: int) -> None:
    """Drag card `moving` by its handle onto the upper part of card `target` (mouse, in steps)."""
    settled_box(page, moving)
    handle = card(page, moving).locator("[data-handle]").bounding_box()
    box = settled_box(page, target)
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 8, steps=12)
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 4, steps=4)
    page.mouse.up()


def test_labeler_ranks_by_mouse_with_a_tie_and_a_flag(page: Page, bench):
    open_bench(page, bench["url"])
    a, b, c, d = shown_ids(page)
    # Wanted: d best, then c and a tied, then b flagged.
    drag_above(page, d, a)
    expect(page.locator("[data-rank-list] [data-completion-id]").first).to_have_attribute("data-completion-id", str(d))
    drag_above(page, c, a)
    assert shown_ids(page) == [d, c, a, b]
    card(page, a).locator('[data-action="tie"]').click()
    card(page, b).locator('[data-action="flag"]').click()
    expect(page.locator(f'[data-flagged-list] [data-completion-id="{b}"]')).to_be_visible()
    expect(card(page, c).locator("[data-rank]")).to_have_text("2")
    page.click('[data-action="submit"]')
    expect(page.locator("[data-session-count]")).to_have_text("1")

    ranking = Ranking.objects.get()
    assert ranking.tiers == [[d], sorted([c, a])]
    assert ranking.flagged == [b]
    assert ranking.shown_order == [a, b, c, d]
    assert ranking.labeler == bench["alice"]
    assert ranking.duration_ms > 0
    page.goto(bench["url"] + "/")  # the home page counts it
    expect(page.locator('[data-project="helpful"] [data-stat="done-today"]')).to_have_text("1")
    expect(page.locator('[data-project="helpful"] [data-stat="remaining"]')).to_have_text("0")


def test_quick_drags_land_where_the_pointer_is_released(page: Page, bench):
    """Playwright's drag_to moves in one step and releases at once, faster than any hand: the
    card must still land where it was dropped."""
    open_bench(page, bench["url"])
    a, b, c, d = shown_ids(page)
    card(page, d).locator("[data-handle]").drag_to(card(page, a), target_position={"x": 200, "y": 5})
    assert shown_ids(page) == [d, a, b, c]
    card(page, d).locator("[data-handle]").drag_to(card(page, c), target_position={"x": 200, "y": 60})
    assert shown_ids(page) == [a, b, c, d]
    card(page, b).locator("[data-handle]").drag_to(card(page, a))
    assert shown_ids(page) == [b, a, c, d]
    expect(card(page, b).locator("[data-rank]")).to_have_text("1")
    page.click('[data-action="submit"]')
    expect(page.locator("[data-session-count]")).to_have_text("1")
    assert Ranking.objects.get().tiers == [[b], [a], [c], [d]]


def focused_card_id(page: Page) -> int | None:
    value = page.evaluate("document.activeElement.closest('[data-completion-id]')?.dataset.completionId ?? null")
    return int(value) if value is not None else None


def test_labeler_ranks_by_keyboard_alone(page: Page, bench):
    page.goto(f"{bench['url']}/accounts/login/?next=/projects/helpful/label/")
    expect(page.locator("#id_username")).to_be_focused()  # autofocus
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{bench['url']}/projects/helpful/label/")
    for _ in range(40):  # Tab to the gate's confirm button, as a keyboard user would
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.action") == "accept-instructions":
            break
    page.keyboard.press("Enter")
    expect(page.locator("[data-rank-list] [data-completion-id]").first).to_be_focused()
    a, b, c, d = shown_ids(page)

    for _ in range(3):
        page.keyboard.press("ArrowDown")
    assert focused_card_id(page) == d
    for _ in range(3):
        page.keyboard.press("k")  # K moves the focused card up; focus stays on it
    assert shown_ids(page) == [d, a, b, c] and focused_card_id(page) == d
    page.keyboard.press("ArrowDown")
    assert focused_card_id(page) == a
    page.keyboard.press("Alt+ArrowDown")
    assert shown_ids(page) == [d, b, a, c] and focused_card_id(page) == a
    page.keyboard.press("j")
    page.keyboard.press("Alt+ArrowUp")
    assert shown_ids(page) == [d, b, a, c] and focused_card_id(page) == a
    page.keyboard.press("t")  # a ties with b above it
    expect(card(page, a)).to_have_class(re.compile(r"\bis-tied\b"))
    page.keyboard.press("ArrowDown")
    page.keyboard.press("f")  # c is nonsense
    expect(page.locator(f'[data-flagged-list] [data-completion-id="{c}"]')).to_be_visible()
    assert focused_card_id(page) == c
    page.keyboard.press("Enter")
    expect(page.locator("[data-session-count]")).to_have_text("1")
    expect(page.locator("[data-empty]")).to_be_visible()

    ranking = Ranking.objects.get()
    assert ranking.tiers == [[d], sorted([b, a])]
    assert ranking.flagged == [c]
    assert ranking.shown_order == [a, b, c, d]
    assert ranking.duration_ms > 0


def test_tie_and_flag_are_undone_by_pressing_again(page: Page, bench):
    open_bench(page, bench["url"])
    a, b, c, d = shown_ids(page)
    card(page, b).focus()
    page.keyboard.press("t")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("t")
    expect(page.locator("[data-tie-reminder]")).to_be_visible()  # two ties: a gentle reminder
    page.keyboard.press("t")
    expect(page.locator("[data-tie-reminder]")).to_be_hidden()
    page.keyboard.press("f")
    expect(card(page, c).locator('[data-action="flag"]')).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("f")
    assert shown_ids(page) == [a, b, d, c]
    expect(card(page, b).locator("[data-rank]")).to_be_hidden()  # b still tied with a: one rank number
    card(page, b).locator('[data-action="tie"]').click()
    expect(card(page, b).locator("[data-rank]")).to_have_text("2")
    card(page, b).focus()  # Enter on a focused button presses that button; on a card it submits
    page.keyboard.press("Enter")
    expect(page.locator("[data-session-count]")).to_have_text("1")
    assert Ranking.objects.get().tiers == [[a], [b], [d], [c]]


def test_submit_waits_until_the_labeler_has_ranked(page: Page, bench):
    open_bench(page, bench["url"])
    submit = page.locator('[data-action="submit"]')
    expect(submit).to_be_disabled()
    page.keyboard.press("Enter")
    page.click('[data-action="keep-order"]')
    expect(submit).to_be_enabled()
    submit.click()
    expect(page.locator("[data-session-count]")).to_have_text("1")
    assert Ranking.objects.get().tiers == [[i] for i in Assignment.objects.get().shown_order]


def test_next_task_loads_without_a_page_reload(page: Page, bench):
    make_prompt(bench["project"], 3)
    open_bench(page, bench["url"])
    page.evaluate("window.__sameDocument = true")
    first = shown_ids(page)
    page.click('[data-action="keep-order"]')
    page.click('[data-action="submit"]')
    expect(page.locator("[data-session-count]")).to_have_text("1")
    expect(page.locator("[data-rank-list] [data-completion-id]")).to_have_count(3)
    assert not set(shown_ids(page)) & set(first)
    assert page.evaluate("window.__sameDocument") is True
    page.keyboard.press("s")  # skip the second one
    expect(page.locator("[data-empty]")).to_be_visible()
    assert Assignment.objects.filter(status=Assignment.Status.SKIPPED).count() == 1


def test_model_output_shows_as_text_and_runs_nothing(page: Page, bench):
    project = make_project("xss")
    make_user("bob", "labeler", project)
    code = "Use this:\n\n```python\ndef f():\n    return '<b>'\n```\n  indented   spaces"
    make_prompt(project, [XSS, code, "<b>bold?</b>"], text=f"Prompt {XSS}")
    open_bench(page, bench["url"], "bob", "xss")
    expect(page.locator("[data-prompt]")).to_have_text(f"Prompt {XSS}")
    texts = page.locator("[data-rank-list] [data-text]").evaluate_all("els => els.map(el => el.textContent)")
    assert sorted(texts) == sorted([XSS, code, "<b>bold?</b>"])
    assert page.locator("[data-bench] img, [data-bench] b, [data-rank-list] script, [data-prompt] script").count() == 0
    code_block = page.locator("[data-text] pre.code").text_content()
    assert code_block == "```python\ndef f():\n    return '<b>'\n```\n"  # shown in a monospace box
    page.wait_for_timeout(300)
    assert page.dialogs == []


def test_new_instructions_version_shows_the_gate_again(page: Page, bench):
    make_prompt(bench["project"], 3)
    open_bench(page, bench["url"])
    set_instructions(bench["project"], "# Rank by helpfulness\n\nNew rule: *flag* anything in Klingon.")
    page.click('[data-action="keep-order"]')
    page.click('[data-action="submit"]')  # the next task notices the new version and shows the gate
    expect(page.locator('[data-action="accept-instructions"]')).to_be_visible()
    expect(page.locator(".gate")).to_contain_text("have changed since you last read them")
    expect(page.locator(".gate em")).to_have_text("flag")
    page.click('[data-action="accept-instructions"]')
    expect(page.locator("[data-rank-list] [data-completion-id]")).to_have_count(3)
    assert InstructionAcceptance.objects.filter(user=bench["alice"]).count() == 2
    assert Ranking.objects.count() == 1
    page.reload()  # accepted once per version: no gate on the next visit
    expect(page.locator("[data-rank-list] [data-completion-id]")).to_have_count(3)


def test_instructions_panel_opens_with_a_click_and_the_question_mark(page: Page, bench):
    open_bench(page, bench["url"])
    panel = page.locator("[data-instructions]")
    expect(panel).to_be_hidden()
    page.keyboard.press("?")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("Rank by helpfulness")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(page.locator("[data-rank-list] [data-completion-id]").first).to_be_focused()
    page.click('[data-action="instructions"]')
    expect(panel).to_be_visible()
    page.click('[data-action="close-instructions"]')
    expect(panel).to_be_hidden()


def test_labeler_cannot_open_another_projects_page(page: Page, bench):
    make_project("secret")
    log_in(page, bench["url"], "alice")
    response = page.goto(f"{bench['url']}/projects/secret/label/")
    assert response.status == 404


def test_lost_connection_keeps_the_ranking_and_resubmits(page: Page, bench):
    open_bench(page, bench["url"])
    a, b, c, d = shown_ids(page)
    card(page, d).focus()
    page.keyboard.press("f")
    page.context.set_offline(True)
    page.click('[data-action="submit"]')
    expect(page.locator("[data-status]")).to_contain_text("offline — will resubmit")
    assert not Ranking.objects.exists()
    page.context.set_offline(False)
    expect(page.locator("[data-session-count]")).to_have_text("1")
    ranking = Ranking.objects.get()
    assert ranking.tiers == [[a], [b], [c]] and ranking.flagged == [d]


def test_unsent_ranking_survives_a_page_reload(page: Page, bench):
    open_bench(page, bench["url"])
    a, b, c, d = shown_ids(page)
    card(page, a).focus()
    page.keyboard.press("f")
    page.route("**/ranking/", lambda route: route.abort("internetdisconnected"))
    page.click('[data-action="submit"]')
    expect(page.locator("[data-status]")).to_contain_text("offline — will resubmit")
    page.reload()  # the ranking was kept in the browser and is sent again from there
    expect(page.locator("[data-status]")).to_contain_text("offline — will resubmit")
    assert not Ranking.objects.exists()
    page.unroute("**/ranking/")
    expect(page.locator("[data-session-count]")).to_have_text("1")
    ranking = Ranking.objects.get()
    assert ranking.tiers == [[b], [c], [d]] and ranking.flagged == [a]


def test_a_server_error_on_submit_keeps_the_ranking_and_sends_it_again(page: Page, bench):
    open_bench(page, bench["url"])
    a, b, c, d = shown_ids(page)
    failures = []

    def fail_once(route):  # the first attempt meets a passing server error (e.g. a dropped database connection)
        if not failures:
            failures.append(route.request.url)
            route.fulfill(status=503, body="Service Unavailable")
        else:
            route.continue_()

    page.route("**/ranking/", fail_once)
    page.click('[data-action="keep-order"]')
    page.click('[data-action="submit"]')
    expect(page.locator("[data-status]")).to_contain_text("server had a problem (503)")
    expect(page.locator("[data-session-count]")).to_have_text("1")  # sent again without a click
    assert len(failures) == 1
    assert Ranking.objects.get().tiers == [[a], [b], [c], [d]]


def axe_violations(page: Page, axe_source: str) -> list[str]:
    # From the site, as a file: the site's CSP refuses the inline script that `path=` would add.
    # (`axe_source` only checks that the file is there.)
    page.add_script_tag(url=page.evaluate("location.origin") + "/static/vendor/axe.min.js")
    results = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


def test_task_page_has_no_serious_accessibility_violations(page: Page, bench, axe_source):
    open_bench(page, bench["url"])
    a, b, c, d = shown_ids(page)
    card(page, b).locator('[data-action="tie"]').click()
    card(page, d).locator('[data-action="flag"]').click()
    assert axe_violations(page, axe_source) == []
    page.keyboard.press("?")
    assert axe_violations(page, axe_source) == []


def test_gate_login_and_home_have_no_serious_accessibility_violations(page: Page, bench, axe_source):
    page.goto(f"{bench['url']}/accounts/login/")
    assert axe_violations(page, axe_source) == []
    log_in(page, bench["url"], "alice", "/projects/helpful/label/")
    assert axe_violations(page, axe_source) == []
    page.goto(f"{bench['url']}/")
    assert axe_violations(page, axe_source) == []


def test_phone_layout_fits_and_shows_long_completions_in_full(phone_page: Page, bench):
    long_word = "https://example.org/" + "a" * 300
    long_text = "\n".join(f"Line {i}: " + "words " * 30 for i in range(40)) + "\n" + long_word
    project = make_project("long")
    make_user("carol", "labeler", project)
    make_prompt(project, [long_text, "Short.", "Also short."])
    open_bench(phone_page, bench["url"], "carol", "long")
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= 390
    long_card = phone_page.locator("[data-text]", has_text="Line 39")
    expect(long_card).to_contain_text(long_word)
    assert long_card.evaluate("el => el.scrollHeight <= el.clientHeight + 1")  # nothing cut off
    handle = phone_page.locator("[data-handle]").first.bounding_box()
    assert handle["width"] >= 44 and handle["height"] >= 44  # a comfortable touch target


def touch_drag(cdp, start: tuple[float, float], end: tuple[float, float], steps: int = 12) -> None:
    (x0, y0), (x1, y1) = start, end
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x0, "y": y0}]})
    for i in range(1, steps + 1):
        point = {"x": x0 + (x1 - x0) * i / steps, "y": y0 + (y1 - y0) * i / steps}
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_on_a_phone_the_handle_drags_and_scrolling_over_cards_never_reorders(phone_page: Page, bench):
    project = make_project("touch")
    make_user("dana", "labeler", project)
    make_prompt(project, ["First short one.", "Second short one.", "Third short one."])
    make_prompt(project, ["\n".join(f"Step {i}: " + "stir gently " * 12 for i in range(60)), "Short.", "Tiny."])
    open_bench(phone_page, bench["url"], "dana", "touch")
    cdp = phone_page.context.new_cdp_session(phone_page)

    a, b, c = shown_ids(phone_page)
    handle = card(phone_page, c).locator("[data-handle]").bounding_box()
    top = card(phone_page, a).bounding_box()
    grip = (handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    touch_drag(cdp, grip, (top["x"] + 60, top["y"] + 6))
    expect(phone_page.locator("[data-rank-list] [data-completion-id]").first).to_have_attribute(
        "data-completion-id", str(c))
    phone_page.click('[data-action="submit"]')
    expect(phone_page.locator("[data-session-count]")).to_have_text("1")
    assert Ranking.objects.get().tiers == [[c], [a], [b]]

    expect(phone_page.locator("[data-text]", has_text="Step 59")).to_be_visible()
    order = shown_ids(phone_page)
    long_text = phone_page.locator("[data-text]", has_text="Step 59")
    long_text.evaluate("el => el.scrollIntoView({block: 'start'})")
    before = phone_page.evaluate("window.scrollY")
    box = long_text.bounding_box()
    finger = (box["x"] + 100, box["y"] + 450)  # on the completion's text, well above the action bar
    touch_drag(cdp, finger, (finger[0], finger[1] - 350), steps=10)  # a finger swipes up on the text
    assert phone_page.evaluate("window.scrollY") > before + 100  # the page scrolled ...
    assert shown_ids(phone_page) == order  # ... and nothing moved


def test_labeler_ranks_the_whole_demo_project_by_keyboard(page: Page, live_server):
    call_command("load_demo", password=PASSWORD, stdout=io.StringIO())
    prompts = Prompt.objects.filter(project__slug="demo").count()
    open_bench(page, live_server.url, "labeler1", "demo")
    for done in range(1, prompts + 1):
        expect(page.locator('[data-bench][data-inflight="0"]')).to_be_attached()  # the task has loaded
        expect(page.locator("[data-rank-list] [data-completion-id]").first).to_be_focused()
        page.keyboard.press("j")  # the first card one down: a ranking of my own
        page.keyboard.press("Enter")
        expect(page.locator("[data-session-count]")).to_have_text(str(done))
    expect(page.locator("[data-empty]")).to_be_visible()
    assert Ranking.objects.filter(labeler__username="labeler1").count() == prompts
    page.goto(live_server.url + "/")
    expect(page.locator('[data-project="demo"] [data-stat="done-today"]')).to_have_text(str(prompts))
    expect(page.locator('[data-project="demo"] [data-stat="remaining"]')).to_have_text("0")

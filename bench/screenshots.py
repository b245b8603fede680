"""Screenshots of the labeling page for the README and docs/screenshots/.

Builds a throw-away demo site (the embedded PostgreSQL in a temporary directory, `load_demo`), serves it with
`manage.py runserver`, and photographs it with Debian's Chromium through Playwright:

    .venv/bin/python bench/screenshots.py [--out docs/screenshots]

Files: task-page.png (1280×800, with a tie and a flagged completion), task-page-phone.png
(390×844), instructions-gate.png, instructions-panel.png and home.png (1280×800)."""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "screenshots-only-password"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_site(var_dir: str, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(LABELHUB_VAR_DIR=var_dir, LABELHUB_DEMO_PASSWORD=PASSWORD, DEBUG="true")
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True)
    subprocess.run([*manage, "load_demo"], env=env, check=True, stdout=subprocess.DEVNULL)
    server = subprocess.Popen([*manage, "runserver", "--noreload", f"127.0.0.1:{port}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_server(f"http://127.0.0.1:{port}")
    except SystemExit:
        server.kill()
        raise
    return server


def wait_for_server(base: str) -> None:
    for _ in range(150):
        try:
            urllib.request.urlopen(f"{base}/accounts/login/", timeout=1)  # noqa: S310 - a local URL
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the development server did not start")


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/?next=/projects/demo/label/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/projects/demo/label/")


def wait_for_prompt(page: Page, text: str) -> None:
    """Skip tasks until the one whose prompt contains `text` is shown."""
    for _ in range(30):
        expect(page.locator("[data-rank-list] [data-completion-id]").first).to_be_visible()
        if text in page.locator("[data-prompt]").inner_text():
            return
        page.click('[data-action="skip"]')
        page.wait_for_function("() => document.querySelector('[data-bench]').dataset.inflight === '0'")
    raise SystemExit(f"no demo task with {text!r}")


def card_with(page: Page, text: str):
    return page.locator("[data-completion-id]", has_text=text)


def move_to(page: Page, text: str, position: int) -> None:
    """Move the card containing `text` to `position` (0 = top) with the keyboard."""
    card = card_with(page, text)
    card.focus()
    for _ in range(10):
        index = page.locator("[data-rank-list] > [data-completion-id]").evaluate_all(
            f"cards => cards.findIndex(c => c.textContent.includes({text!r}))")
        if index == position:
            return
        page.keyboard.press("k" if index > position else "j")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sys.path.insert(0, str(ROOT))
    from labelhub import embedded_db

    with tempfile.TemporaryDirectory() as var_dir, embedded_db.running(Path(var_dir)):
        server = start_site(var_dir, port)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                desktop = browser.new_page(viewport={"width": 1280, "height": 800})
                log_in(desktop, base, "labeler1")
                desktop.screenshot(path=out / "instructions-gate.png")
                desktop.click('[data-action="accept-instructions"]')
                wait_for_prompt(desktop, "boil an egg")
                move_to(desktop, "6 to 6½ minutes", 0)
                move_to(desktop, "about 6 minutes", 1)
                desktop.keyboard.press("t")
                card_with(desktop, "good source of protein").locator('[data-action="flag"]').click()
                move_to(desktop, "6 to 6½ minutes", 0)
                desktop.mouse.click(1, 790)  # no focus ring in the picture
                desktop.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
                desktop.screenshot(path=out / "task-page.png")
                desktop.keyboard.press("?")
                desktop.screenshot(path=out / "instructions-panel.png")
                desktop.goto(f"{base}/")
                desktop.screenshot(path=out / "home.png")

                phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                         is_mobile=True, has_touch=True)
                log_in(phone, base, "labeler2")
                phone.click('[data-action="accept-instructions"]')
                wait_for_prompt(phone, "boil an egg")
                phone.evaluate("document.activeElement.blur(); window.scrollTo(0, 0)")
                phone.screenshot(path=out / "task-page-phone.png")
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    for name in ("task-page.png", "task-page-phone.png", "instructions-gate.png", "instructions-panel.png", "home.png"):
        print(out / name)


if __name__ == "__main__":
    main()

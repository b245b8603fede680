"""Browser fixtures: Debian's Chromium driven by Playwright (sync API) against pytest-django's
live_server. Playwright's sync API runs an asyncio loop in this thread, which makes Django refuse
the tests' own database calls (SynchronousOnlyOperation); they are ordinary blocking calls here, so
that check is lifted (DJANGO_ALLOW_ASYNC_UNSAFE) while the browser runs."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = os.environ.get("LABELHUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
AXE_JS = Path(__file__).resolve().parents[2] / "static" / "vendor" / "axe.min.js"


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """One Chromium for the browser tests. Package-scoped, like the asyncio-safety exemption it
    needs: both end with the last browser test, so the rest of the suite (and the subprocesses it
    starts, e.g. `check --deploy`) runs with Django's protection on."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make browser` (or apt-get install chromium) installs it")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class PageErrors(list):
    """JavaScript errors and dialogs (alert, confirm) seen during a test."""


def _open_page(browser: Browser, **context_options) -> tuple[Page, PageErrors, PageErrors]:
    context = browser.new_context(**context_options)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors, dialogs = PageErrors(), PageErrors()
    page.on("pageerror", lambda error: errors.append(str(error)))

    def dismiss(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.dismiss_dialogs = dismiss  # a test that must accept one removes this listener first
    return page, errors, dialogs


def _close(page: Page, errors: PageErrors) -> None:
    # Let the page's last API call finish before the test database is flushed under it. (A function,
    # not an expression: Playwright evaluates an expression with eval, which the site's CSP forbids.)
    try:
        page.wait_for_function(
            "() => !document.querySelector('[data-bench]')"
            " || document.querySelector('[data-bench]').dataset.inflight === '0'"
            " || !document.querySelector('[data-bench]').dataset.inflight",
            timeout=5_000,
        )
    finally:
        page.context.close()
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture
def page(browser: Browser, live_server) -> Iterator[Page]:
    """A fresh desktop-sized page; the test fails if the page throws a JavaScript error.
    (Depends on live_server so that it closes before the live server's database is flushed.)"""
    page, errors, dialogs = _open_page(browser, viewport=DESKTOP)
    page.dialogs = dialogs
    yield page
    _close(page, errors)


@pytest.fixture
def phone_page(browser: Browser, live_server) -> Iterator[Page]:
    """A phone-sized touch page (390×844, like an iPhone 14)."""
    page, errors, dialogs = _open_page(browser, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    page.dialogs = dialogs
    yield page
    _close(page, errors)


@pytest.fixture
def axe_source() -> str:
    if not AXE_JS.exists():
        pytest.fail(f"{AXE_JS} is missing: run `make static`")
    return str(AXE_JS)

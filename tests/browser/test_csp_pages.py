"""The Django admin and the Swagger UI work under the site's own Content-Security-Policy (no inline
script): nothing is blocked, and each shows its content."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def test_admin_and_api_docs_run_under_the_policy(page: Page, live_server):
    get_user_model().objects.create_superuser("root", "root@example.com", "root-password-123")
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "root")
    page.fill("#id_password", "root-password-123")
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    response = page.goto(f"{live_server.url}/admin/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    response = page.goto(f"{live_server.url}/api/docs/")
    assert "unsafe-inline" not in response.headers["content-security-policy"].split("script-src")[1].split(";")[0]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("LabelHub API", timeout=20_000)  # a big bundle
    assert violations == []

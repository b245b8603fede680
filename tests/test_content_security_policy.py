"""Every page carries a Content-Security-Policy whose script-src has no 'unsafe-inline', and no page
has an inline script or an inline event handler (PRODUCT, "Operations and limits"). The pages are
found by walking the URL conf, so a page added later is checked without a new test."""

from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.exceptions import NoReverseMatch

from annotations.instructions import accept
from annotations.team import create_invite

from .export_builders import rank
from .factories import make_prompt, make_user, page_client

NOT_CODE = {"application/json", "application/ld+json"}  # data blocks (json_script): never executed


class InlineCode(HTMLParser):
    """Collects inline scripts, on* event handler attributes and javascript: URLs."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "script" and not attributes.get("src") and (attributes.get("type") or "").lower() not in NOT_CODE:
            self.found.append(f"inline <script {attrs}>")
        for name, value in attrs:
            if name.lower().startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name.lower() in {"href", "src", "action", "formaction"} and (value or "").strip().lower().startswith(
                    "javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


def named_patterns(patterns=None, namespaces=(), params=()):
    """(full name, parameter names) of every named route, through includes."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        here = tuple(_params(entry.pattern))
        if isinstance(entry, URLResolver):
            inner = namespaces + ((entry.namespace,) if entry.namespace else ())
            yield from named_patterns(entry.url_patterns, inner, params + here)
        elif isinstance(entry, URLPattern) and entry.name:
            yield ":".join(namespaces + (entry.name,)), params + here


def _params(pattern) -> list[str]:
    converters = getattr(pattern, "converters", None)
    if converters:
        return list(converters)
    return list(getattr(getattr(pattern, "regex", None), "groupindex", {}) or {})


def test_inline_code_finder_finds_what_the_policy_would_block():
    assert inline_code('<script>alert(1)</script><script src="/a.js"></script>') == ["inline <script []>"]
    assert inline_code('<button onclick="x()">') == ["<button onclick=...>"]
    assert inline_code('<a href=" javascript:x()">') == ["<a href=' javascript:x()'>"]
    assert inline_code('<script type="application/json" id="d">{}</script>') == []


@pytest.fixture
def site(project, alice, rita, pam):
    prompt = make_prompt(project, 3)
    rank(prompt, alice, [[1], [2], [3]])
    accept(alice, project, 1)
    _, token = create_invite(project, "labeler")
    root = get_user_model().objects.create_superuser("root", "root@example.com", "root-password-123")
    samples = {"slug": project.slug, "prompt_id": prompt.pk, "token": token, "app_label": "annotations",
               "assignment_id": 1,
               "username": "alice", "export_id": 1, "object_id": str(project.pk)}
    users = {"anonymous": None, "labeler": alice, "researcher": rita, "project admin": pam, "site admin": root,
             "outsider": make_user("olga")}
    return samples, users


def test_every_html_page_has_a_strict_policy_and_no_inline_script(site):
    samples, users = site
    urls, unfilled = set(), []
    for name, params in named_patterns():
        try:
            urls.add(reverse(name, kwargs={param: samples[param] for param in params}))
        except (KeyError, NoReverseMatch):
            unfilled.append(name)
    assert len(urls) > 40, urls
    pages, problems = set(), []
    for role, user in users.items():
        client = page_client(user)
        for url in sorted(urls):
            response = client.get(url)
            policy = response.headers.get("Content-Security-Policy", "")
            script_src = next((d for d in policy.split(";") if d.strip().startswith("script-src")), "")
            if "'self'" not in script_src or "unsafe-inline" in script_src or "unsafe-eval" in script_src:
                problems.append(f"{role} {url}: policy {policy!r}")
            if response.headers.get("Content-Type", "").startswith("text/html") and response.status_code == 200:
                pages.add(url)
                problems += [f"{role} {url}: {found}" for found in inline_code(response.content.decode())]
    assert problems == []
    # The site's own pages were really rendered (not only redirects to the login page).
    for url in ["/", "/accounts/login/", "/projects/helpful/", "/projects/helpful/label/", "/projects/helpful/team/",
                "/projects/helpful/quality/", "/projects/helpful/exports/", "/projects/helpful/prompts/",
                "/projects/helpful/instructions/", "/projects/helpful/settings/", "/projects/new/", "/admin/",
                "/api/docs/", f"/invite/{samples['token']}/"]:
        assert url in pages, url
    assert len(pages) > 30


def test_policy_header_value(client, db):
    policy = client.get("/accounts/login/").headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"

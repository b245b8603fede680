"""The Django admin's project page: saving it with the instruction-versions inline works (it used to
answer 500, an IntegrityError on `instructionversion.version`), and published versions cannot be
edited, deleted or added there."""

from html.parser import HTMLParser

import pytest
from django.test import Client

from annotations.models import InstructionVersion
from annotations.projects import set_instructions

from .factories import make_user


class FormFields(HTMLParser):
    """The values a browser would submit from the page's main form (inputs, selects, textareas)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and attrs.get("type") not in ("submit", "button", "file"):
            if attrs.get("type") == "checkbox":
                if "checked" in attrs:
                    self.data[name] = "on"
            else:
                self.data[name] = attrs.get("value") or ""
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, "")
        elif tag == "option" and self._select and "selected" in attrs:
            self.data[self._select] = attrs.get("value") or ""
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea] += data.lstrip("\n") if not self.data[self._textarea] else data


@pytest.fixture
def superuser(db):
    user = make_user("root")
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def change_form(client: Client, project) -> tuple[str, dict[str, str]]:
    url = f"/admin/annotations/project/{project.pk}/change/"
    response = client.get(url)
    assert response.status_code == 200
    fields = FormFields()
    fields.feed(response.content.decode())
    fields.data.pop("_addanother", None)
    return url, fields.data


def test_saving_the_project_in_the_admin_with_its_versions_inline_succeeds(project, superuser, alice):
    set_instructions(project, "# v2")
    client = Client()
    client.force_login(superuser)
    url, data = change_form(client, project)
    assert data["instruction_versions-TOTAL_FORMS"] == "2"
    data["name"] = "Helpfulness (renamed)"
    response = client.post(url, {**data, "_save": "Save"})
    assert response.status_code == 302, response.content.decode()[:2000]
    project.refresh_from_db()
    assert project.name == "Helpfulness (renamed)"
    assert list(InstructionVersion.objects.filter(project=project).values_list("version", flat=True)) == [2, 1]


def test_versions_cannot_be_edited_added_or_deleted_in_the_admin(project, superuser):
    client = Client()
    client.force_login(superuser)
    url, data = change_form(client, project)
    html = client.get(url).content.decode()
    assert 'name="instruction_versions-0-text"' not in html  # shown as text, not as a field
    assert "Rank by helpfulness" in html
    version = InstructionVersion.objects.get(project=project)
    forged = {
        **data, "_save": "Save",
        "instruction_versions-0-id": str(version.pk), "instruction_versions-0-text": "rewritten",
        "instruction_versions-0-DELETE": "on",
        "instruction_versions-TOTAL_FORMS": "2",
        "instruction_versions-1-text": "smuggled version", "instruction_versions-1-version": "7",
    }
    response = client.post(url, forged)
    assert response.status_code in (200, 302)
    assert list(InstructionVersion.objects.filter(project=project).values_list("version", "text")) == [
        (1, "# Rank by helpfulness\n\nBest first.")]


def test_the_admin_add_project_page_has_no_version_form(superuser):
    client = Client()
    client.force_login(superuser)
    html = client.get("/admin/annotations/project/add/").content.decode()
    assert 'name="instruction_versions-0-text"' not in html
    assert 'name="instruction_versions-__prefix__-text"' not in html

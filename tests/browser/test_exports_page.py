"""The export page in a real browser: a researcher starts an export, watches its progress bar move
while it runs, and downloads the bundle."""

import zipfile

import pytest
from playwright.sync_api import Page, expect

from annotations.export.job import run_export
from annotations.export.options import ExportOptions
from annotations.models import Export
from tests.export_builders import rank
from tests.factories import make_project, make_prompt, make_user

from .test_labeling_page import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def lab(live_server):
    project = make_project("helpful", name="Helpfulness")
    alice = make_user("alice", "labeler", project)
    make_user("rita", "researcher", project)
    for _ in range(2):
        rank(make_prompt(project, 3), alice, [[2], [1], [3]])
    return {"url": live_server.url, "project": project}


def test_researcher_watches_an_export_progress_and_downloads_it(page: Page, lab, tmp_path):
    project = lab["project"]
    export = Export.objects.create(project=project, params=ExportOptions(format="csv").as_dict(),
                                   status=Export.Status.RUNNING, progress=0.2)
    log_in(page, lab["url"], "rita", "/projects/helpful/exports/")
    row = page.locator(f'[data-export="{export.pk}"]')
    expect(row.locator("[data-export-status]")).to_have_text("running")
    expect(row.locator("[data-action='download']")).to_be_hidden()

    # The worker moves on: the bar follows without a reload.
    Export.objects.filter(pk=export.pk).update(progress=0.6)
    page.wait_for_function(  # a function: an expression would be eval'ed, which the site's CSP forbids
        f"() => document.querySelector('[data-export=\"{export.pk}\"] [data-export-progress]').value > 0.5")

    # It finishes (run for real now, from the claim on).
    Export.objects.filter(pk=export.pk).update(status=Export.Status.QUEUED)
    assert run_export(export.pk)
    expect(row.locator("[data-export-status]")).to_have_text("done")
    expect(row.locator("[data-export-counts]")).to_have_text("6 pairs · 2 prompts")
    with page.expect_download() as download_info:
        row.locator("[data-action='download']").click()
    path = tmp_path / "bundle.zip"
    download_info.value.save_as(path)
    with zipfile.ZipFile(path) as archive:
        assert "pairs.csv" in archive.namelist()


def test_researcher_starts_an_export_from_the_form(page: Page, lab):
    log_in(page, lab["url"], "rita", "/projects/helpful/exports/")
    page.select_option("#id_format", "parquet")
    page.select_option("#id_mode", "consensus")
    page.fill("#id_test_fraction", "0.5")
    page.click("[data-export-form] button[type=submit]")
    expect(page.locator("tr[data-export]")).to_have_count(1)
    export = Export.objects.get()
    assert (export.params["format"], export.params["mode"], export.params["test_fraction"]) == (
        "parquet", "consensus", 0.5)
    expect(page.locator("tr[data-export] .export-params")).to_contain_text("parquet · consensus")


def test_admin_deletes_an_export_after_confirming_and_its_files_go(page: Page, lab):
    from pathlib import Path

    from django.conf import settings

    project = lab["project"]
    make_user("pam", "admin", project)
    export = Export.objects.create(project=project, params=ExportOptions().as_dict())
    assert run_export(export.pk)
    bundle = Path(settings.MEDIA_ROOT) / Export.objects.get(pk=export.pk).files["bundle"]
    assert bundle.is_file()
    log_in(page, lab["url"], "pam", "/projects/helpful/exports/")
    delete = page.get_by_role("button", name=f"Delete export {export.pk}")

    delete.click()  # the page fixture answers "Cancel" to every dialog: nothing happens
    expect(page.locator(f'[data-export="{export.pk}"]')).to_be_visible()
    assert page.dialogs == [f"Delete export {export.pk} and its files?"]
    assert Export.objects.filter(pk=export.pk).exists()

    page.remove_listener("dialog", page.dismiss_dialogs)
    page.once("dialog", lambda dialog: dialog.accept())
    delete.click()
    expect(page.get_by_text(f"Export {export.pk} and its files were deleted.")).to_be_visible()
    expect(page.locator(f'[data-export="{export.pk}"]')).to_have_count(0)
    assert not Export.objects.filter(pk=export.pk).exists()
    assert not bundle.exists() and not bundle.parent.exists()

"""The export page: start a pair export, watch it run, download old and new bundles.
Researchers and admins of the project; 404 to non-members, 403 to labelers."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from ..deletion import delete_export
from ..export.job import TooManyExports, fail_export, start_export
from ..export.options import ExportOptions, ExportOptionsError
from ..models import Export, Project
from ..publishing import BrokerUnavailable, send_after_commit
from ..roles import can_export, is_project_admin, projects_visible_to
from ..tasks import export_pairs_task


def exportable_project(request: HttpRequest, slug: str) -> Project:
    project = get_object_or_404(projects_visible_to(request.user), slug=slug)
    if not can_export(request.user, project):
        raise PermissionDenied("Only the project's researchers and admins may export.")
    return project


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=[("jsonl", "JSON Lines"), ("parquet", "Parquet"), ("csv", "CSV")])
    mode = forms.ChoiceField(choices=[("labeler", "One pair per labeler"), ("consensus", "Consensus of the labelers")])
    flagged = forms.ChoiceField(
        label="Flagged completions",
        choices=[("drop", "Drop (no pair)"), ("rejected", "Rejected below every ranked completion")],
    )
    ties = forms.ChoiceField(choices=[("drop", "No pair"), ("include", "Include with agreement 0.5")])
    margin = forms.ChoiceField(
        required=False, label="TRL margin column",
        choices=[("", "None"), ("agreement", "Agreement"), ("rank-gap", "Rank gap")],
    )
    test_fraction = forms.FloatField(required=False, min_value=0, max_value=1, label="Test fraction (by prompt)",
                                     widget=forms.NumberInput(attrs={"step": "0.05", "placeholder": "none"}))
    exclude_labelers_below = forms.FloatField(
        required=False, min_value=0, max_value=1, label="Leave out labelers with agreement below",
        widget=forms.NumberInput(attrs={"step": "0.05", "placeholder": "keep everyone"}),
    )
    complete_only = forms.BooleanField(required=False, label="Only prompts ranked by all labelers")
    seed = forms.IntegerField(initial=0, label="Split seed")

    def options(self) -> ExportOptions:
        data = {key: value for key, value in self.cleaned_data.items() if value not in ("", None)}
        return ExportOptions.from_dict(data)


@login_required
def exports_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = exportable_project(request, slug)
    form = ExportForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            export, created = start_export(project, request.user, form.options())
        except ExportOptionsError as exc:
            form.add_error(exc.option if exc.option in form.fields else None, exc.message)
        except TooManyExports as exc:
            form.add_error(None, str(exc))
            status = 429
        else:
            if not created:
                messages.info(request, f"Export {export.pk} has the same options and is {export.status}: "
                                       "no second one was started.")
                return redirect("project-exports", slug=project.slug)
            try:
                send_after_commit(export_pairs_task, kwargs={"export_id": export.pk},
                                  on_unreachable=lambda message: fail_export(export.pk, message))
            except BrokerUnavailable as exc:
                messages.error(request, f"Export {export.pk} failed: {exc.detail}")
                status = 503
            else:
                messages.success(request, f"Export {export.pk} started.")
                return redirect("project-exports", slug=project.slug)
    exports = Export.objects.filter(project=project).select_related("requested_by")[:50]
    return render(request, "annotations/exports.html", {
        "project": project, "form": form, "exports": exports, "can_delete": is_project_admin(request.user, project),
    }, status=status)


@login_required
@require_POST
def delete_export_view(request: HttpRequest, slug: str, export_id: int) -> HttpResponse:
    """The Delete button of a row (project admins): the export and its files go."""
    project = exportable_project(request, slug)
    if not is_project_admin(request.user, project):
        raise PermissionDenied("Only the project's admins may delete exports.")
    export = get_object_or_404(Export, pk=export_id, project=project)
    delete_export(export)
    messages.success(request, f"Export {export_id} and its files were deleted.")
    return redirect("project-exports", slug=project.slug)

"""The prompts browser for a project's admins and researchers: a searchable, filterable,
paginated list of prompts, and one prompt's completions with its rankings side by side.
Researchers see labelers by pseudonym, admins by username."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from ..models import Completion, Membership, Project, Prompt, Ranking
from ..prompt_browser import (
    ORDERS,
    PAGE_SIZE,
    RankingColumn,
    browse_prompts,
    neighbours,
    parse_filters,
    side_by_side,
)
from ..quality import labeler_pseudonym
from ..roles import projects_visible_to, roles_in

Role = Membership.Role


def browsable_project(request: HttpRequest, slug: str) -> tuple[Project, bool]:
    """The project and whether the viewer is one of its admins. 404 to non-members, 403 to
    members who are neither admins nor researchers (labelers)."""
    project = get_object_or_404(projects_visible_to(request.user), slug=slug)
    roles = roles_in(request.user, project)
    if not roles & {Role.ADMIN, Role.RESEARCHER}:
        raise PermissionDenied("Only the project's admins and researchers may browse its prompts.")
    return project, Role.ADMIN in roles


@login_required
def prompt_list(request: HttpRequest, slug: str) -> HttpResponse:
    project, _ = browsable_project(request, slug)
    filters = parse_filters(request.GET)
    page = Paginator(browse_prompts(project, filters), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "annotations/prompts.html", {
        "project": project,
        "filters": filters,
        "query": filters.query_string(),
        "orders": ORDERS,
        "page": page,
        "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
    })


@login_required
def prompt_detail(request: HttpRequest, slug: str, prompt_id: int) -> HttpResponse:
    project, is_admin = browsable_project(request, slug)
    prompt = get_object_or_404(Prompt, pk=prompt_id, project=project)
    completions = list(Completion.objects.filter(prompt=prompt).order_by("position"))
    rankings = list(Ranking.objects.filter(prompt=prompt).select_related("labeler").order_by("submitted_at", "pk"))
    columns = [RankingColumn(ranking, labeler_pseudonym(project, ranking.labeler_id)) for ranking in rankings]
    # The list's filters and page ride along, so that "back" returns to the same page of the same
    # search and "previous" / "next" walk through that list.
    filters = parse_filters(request.GET)
    previous_id, next_id = neighbours(project, filters, prompt)
    back = filters.query_string()
    page_number = request.GET.get("page", "")
    if page_number.isdigit() and page_number != "1":
        back = f"{back}&page={page_number}" if back else f"page={page_number}"
    return render(request, "annotations/prompts_detail.html", {
        "project": project,
        "prompt": prompt,
        "columns": columns,
        "table": side_by_side(completions, rankings),
        "show_usernames": is_admin,
        "back": back,
        "previous_id": previous_id,
        "next_id": next_id,
    })


@login_required
def old_prompt_rankings(request: HttpRequest, slug: str, prompt_id: int) -> HttpResponse:
    """The quality page's former per-prompt address: moved to the prompts browser. It answers as
    the new page would (login, 404, 403) before it tells anyone where the page went."""
    project, _ = browsable_project(request, slug)
    get_object_or_404(Prompt.objects.only("pk"), pk=prompt_id, project=project)
    return redirect("project-prompt", slug=slug, prompt_id=prompt_id, permanent=True)

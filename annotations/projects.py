"""Creating projects and versioning their instructions: shared by the CLI, the API and the demo."""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .adaptive import OVERLAP_FIELDS, complete, redecide_wanted_rankings
from .models import InstructionVersion, Membership, Project, Prompt, Ranking
from .project_rules import SETTINGS_FIELDS, maximum_after_k_change


@transaction.atomic
def create_project(
    slug: str,
    *,
    name: str = "",
    labelers_per_prompt: int = 3,
    allow_ties: bool = True,
    instructions: str = "",
    created_by=None,
    creator_is_admin: bool = False,
    **options,
) -> Project:
    """A new project. The creator becomes an admin member when not staff, or when
    `creator_is_admin` (the new-project page), so that the project is theirs to run."""
    options.setdefault("max_labelers_per_prompt", labelers_per_prompt)  # adaptive overlap off unless asked
    project = Project.objects.create(
        slug=slug,
        name=name or slug,
        labelers_per_prompt=labelers_per_prompt,
        allow_ties=allow_ties,
        created_by=created_by,
        **options,
    )
    if instructions:
        set_instructions(project, instructions)
    if created_by is not None and (creator_is_admin or not created_by.is_staff):
        Membership.objects.get_or_create(user=created_by, project=project, role=Membership.Role.ADMIN)
    return project


def settings_of(project: Project) -> dict[str, object]:
    """The project's current settings, as the rules of project_rules.py read them."""
    return {field: getattr(project, field) for field in SETTINGS_FIELDS}


def update_project(project: Project, changes: dict[str, object]) -> Project:
    """Store validated settings (see project_rules.settings_errors); unknown fields are refused."""
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValueError(f"not project settings: {', '.join(sorted(unknown))}")
    changes = dict(changes)
    if "labelers_per_prompt" in changes and "max_labelers_per_prompt" not in changes:
        following = maximum_after_k_change(project.labelers_per_prompt, project.max_labelers_per_prompt,
                                           changes["labelers_per_prompt"])
        if following != project.max_labelers_per_prompt:
            changes["max_labelers_per_prompt"] = following
    for field, value in changes.items():
        setattr(project, field, value)
    if changes:
        with transaction.atomic():
            project.save(update_fields=list(changes))
            if OVERLAP_FIELDS & set(changes):
                redecide_wanted_rankings(project)
    return project


def set_instructions(project: Project, text: str) -> InstructionVersion:
    """Store `text` as the project's newest instructions; unchanged text keeps the current version."""
    return publish_instructions(project, text)[0]


def publish_instructions(project: Project, text: str) -> tuple[InstructionVersion, bool]:
    """Publish `text` as version n+1 → (version, created). Published versions are never edited:
    each ranking records the version its labeler read, so changing one would misfile rankings.
    Identical text publishes nothing and returns the current version with created=False."""
    text = text.replace("\r\n", "\n")  # a browser's textarea sends CRLF; store one form of the text
    with transaction.atomic():
        # Locking the project row serializes publishers, including the very first version.
        list(Project.objects.select_for_update().filter(pk=project.pk).values_list("pk", flat=True))
        current = InstructionVersion.objects.filter(project=project).order_by("-version").first()
        if current is not None and current.text == text:
            return current, False
        version = current.version + 1 if current else 1
        return InstructionVersion.objects.create(project=project, version=version, text=text), True


def _count(queryset: QuerySet, field: str = "pk") -> Subquery:
    """A correlated COUNT subquery: progress counts for many projects in one query, no N+1."""
    return Coalesce(
        Subquery(
            queryset.order_by().values("project").annotate(n=Count(field)).values("n")[:1],
            output_field=IntegerField(),
        ),
        Value(0),
    )


def with_progress(projects: QuerySet[Project]) -> QuerySet[Project]:
    """Annotate prompts, completions, rankings and prompts_complete on each project."""
    prompts = Prompt.objects.filter(project=OuterRef("pk"))
    return projects.annotate(
        n_prompts=_count(prompts),
        n_completions=Coalesce(
            Subquery(
                prompts.order_by().values("project").annotate(n=Sum("num_completions")).values("n")[:1],
                output_field=IntegerField(),
            ),
            Value(0),
        ),
        n_rankings=_count(Ranking.objects.filter(project=OuterRef("pk"))),
        n_prompts_complete=_count(
            Prompt.objects.filter(
                complete(OuterRef("labelers_per_prompt"), OuterRef("max_labelers_per_prompt")), project=OuterRef("pk")
            )
        ),
    )


@dataclass(frozen=True)
class LabelerTally:
    user_id: int
    username: str
    done_today: int
    done_total: int
    member: bool  # still a labeler member (a removed labeler's rankings stay and are counted)


def labeler_tallies(project: Project, now: datetime | None = None) -> list[LabelerTally]:
    """Each labeler's rankings in the project, today and in total, most first: every labeler
    member (with 0 when they have none) and anyone else who ranked. Two queries, whatever the size."""
    now = now or timezone.now()
    start_of_day = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    counts = {
        row["labeler_id"]: row
        for row in Ranking.objects.filter(project=project).values("labeler_id", "labeler__username")
        .annotate(total=Count("pk"), today=Count("pk", filter=Q(submitted_at__gte=start_of_day)))
        .order_by()
    }
    labeler_members = Membership.objects.filter(project=project, role=Membership.Role.LABELER)
    members = dict(labeler_members.values_list("user_id", "user__username"))
    tallies = [
        LabelerTally(
            user_id=user_id,
            username=members.get(user_id) or counts[user_id]["labeler__username"],
            done_today=counts.get(user_id, {}).get("today", 0),
            done_total=counts.get(user_id, {}).get("total", 0),
            member=user_id in members,
        )
        for user_id in members.keys() | counts.keys()
    ]
    return sorted(tallies, key=lambda tally: (-tally.done_total, tally.username))

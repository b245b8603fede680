"""Creating projects and versioning their instructions: shared by the CLI, the API and the demo."""

from django.db import transaction
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from .models import InstructionVersion, Membership, Project, Prompt, Ranking


@transaction.atomic
def create_project(
    slug: str,
    *,
    name: str = "",
    labelers_per_prompt: int = 3,
    allow_ties: bool = True,
    instructions: str = "",
    created_by=None,
    **options,
) -> Project:
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
    if created_by is not None and not created_by.is_staff:
        Membership.objects.get_or_create(user=created_by, project=project, role=Membership.Role.ADMIN)
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
            Prompt.objects.filter(project=OuterRef("pk"), num_rankings__gte=OuterRef("labelers_per_prompt"))
        ),
    )

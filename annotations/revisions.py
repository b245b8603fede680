"""A labeler's own submitted rankings: reopen one, revise it, list the recent ones.

The Ranking row always holds the latest revision (1 = as first submitted), so consensus,
agreement and exports use it without knowing about revisions; each revision first copies the
row's current content into a RankingRevision."""

from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from labelhub.metrics import RANKINGS_REVISED

from .assignment import MAX_ID, AssignmentConflict
from .consensus import Judgement
from .models import Assignment, Completion, InstructionVersion, Project, Prompt, Ranking, RankingRevision
from .prompt_agreement import store_prompt_agreement
from .quality_stats import ranking_facts
from .ranking import judgement_for
from .roles import labeler_membership

RECENT_RANKINGS = 50


def _own_rankings(labeler) -> QuerySet[Ranking]:
    """The labeler's rankings in the projects they may still label."""
    return Ranking.objects.filter(labeler=labeler).filter(labeler_membership(labeler, OuterRef("project_id")))


def revise_ranking(
    assignment_id: int,
    labeler,
    *,
    tiers: list | None = None,
    flagged: list,
    thumbs: dict | None = None,
    duration_ms: int | None = None,
    instruction_version: int | None = None,
) -> tuple[Ranking, bool]:
    """Replace the labeler's submitted ranking of this assignment with a new revision, validated
    as a submission is. Returns (ranking, revised); an identical ranking (same tiers and flags as
    the latest revision) stores nothing and returns revised=False. Raises Assignment.DoesNotExist
    for another labeler's assignment or one of a project they may no longer label, and
    AssignmentConflict when the assignment has no ranking yet."""
    if not 0 < assignment_id <= MAX_ID:
        raise Assignment.DoesNotExist(f"no assignment {assignment_id} for this labeler")
    now = timezone.now()
    with transaction.atomic():
        current_version = InstructionVersion.objects.filter(project=OuterRef("project_id")).order_by("-version")
        canary = Completion.objects.filter(prompt=OuterRef("prompt_id"), source=Completion.Source.CANARY)
        ranking = (
            _own_rankings(labeler)
            .select_related("project")  # k, maximum and target, for adaptive overlap's decision
            .select_for_update(of=("self",))
            .filter(assignment_id=assignment_id)
            .annotate(
                allow_ties=Subquery(Project.objects.filter(pk=OuterRef("project_id")).values("allow_ties")),
                feedback=Subquery(Project.objects.filter(pk=OuterRef("project_id")).values("feedback")),
                current_version=Subquery(current_version.values("version")[:1]),
                canary_id=Subquery(canary.values("pk")[:1]),
            )
            .first()
        )
        if ranking is None:
            if Assignment.objects.filter(pk=assignment_id, labeler=labeler).filter(
                labeler_membership(labeler, OuterRef("project_id"))
            ).exists():
                raise AssignmentConflict("this assignment has no ranking yet: submit it with POST first")
            raise Assignment.DoesNotExist(f"no assignment {assignment_id} for this labeler")
        tiers, flagged = judgement_for(ranking.feedback, tiers, thumbs, flagged, ranking.shown_order,
                                       ranking.allow_ties)
        if ranking.tiers == tiers and sorted(ranking.flagged) == flagged:
            return ranking, False
        RankingRevision.objects.create(
            ranking=ranking,
            revision=ranking.revision,
            tiers=ranking.tiers,
            flagged=ranking.flagged,
            instruction_version=ranking.instruction_version,
            duration_ms=ranking.duration_ms,
            revised_at=ranking.revised_at,
        )
        ranking.revision += 1
        ranking.revised_at = now
        ranking.tiers, ranking.flagged = tiers, flagged
        ranking.duration_ms = duration_ms
        ranking.instruction_version = ranking.current_version if instruction_version is None else instruction_version
        facts = ranking_facts(Judgement(tiers, flagged), ranking.canary_id, ranking.shown_order)
        ranking.has_tie, ranking.num_flagged, ranking.num_judged, ranking.canary = facts
        ranking.save(update_fields=["revision", "revised_at", "tiers", "flagged", "duration_ms", "instruction_version",
                                    "has_tie", "num_flagged", "num_judged", "canary"])
        # Lock the prompt before reading its rankings, as a submission does (its counter update).
        rankings = Prompt.objects.select_for_update().filter(pk=ranking.prompt_id).values_list(
            "num_rankings", flat=True).get()
        # The prompt's stored quality figures (quality_store.store_prompt_stats) and adaptive
        # overlap's decision, from the same agreement.
        store_prompt_agreement(ranking.prompt_id, ranking.canary_id, ranking.project, rankings,
                               thumbs=ranking.feedback == Project.Feedback.THUMBS)
    RANKINGS_REVISED.inc()
    return ranking, True


def own_ranking(assignment_id: int, labeler) -> tuple[Ranking, list[tuple[int, str]]]:
    """The labeler's submitted ranking of this assignment with its prompt and project, and its
    completions [(id, text)] in the order they were shown (two queries). Raises
    Ranking.DoesNotExist when there is none, or the labeler may no longer label the project."""
    if not 0 < assignment_id <= MAX_ID:
        raise Ranking.DoesNotExist(f"no ranking of assignment {assignment_id} by this labeler")
    ranking = _own_rankings(labeler).select_related("prompt", "project").get(assignment_id=assignment_id)
    texts = dict(Completion.objects.filter(pk__in=ranking.shown_order).order_by().values_list("pk", "text"))
    return ranking, [(cid, texts[cid]) for cid in ranking.shown_order if cid in texts]


def recent_rankings(project: Project, labeler, limit: int = RECENT_RANKINGS) -> list[Ranking]:
    """The labeler's last `limit` rankings in the project, latest revision first, with their
    prompts' text (one query, on the ranking_recent_idx index)."""
    return list(
        Ranking.objects.filter(project=project, labeler=labeler)
        .select_related("prompt")
        .only("assignment_id", "submitted_at", "revised_at", "revision", "prompt__id", "prompt__text")
        .order_by("-revised_at", "-pk")[:limit]
    )

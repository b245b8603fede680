"""Rows that must not be deleted because labels depend on them, and counters kept right when
something may be deleted.

Users are PROTECTed by foreign keys (Ranking.labeler, Assignment.labeler): deleting one who
labeled raises ProtectedError, and deletion.remove_user deactivates them instead. Completions are
referenced by rankings through their ids in JSON (tiers, flagged, shown order), which no foreign
key can protect: Completion.delete() and Completion.objects...delete() call `refuse_ranked` first
and raise ProtectedError for a completion that a ranking or an open reservation refers to (before
the deletion's transaction starts, so a caller's transaction stays usable). Deleting its prompt
or project still removes it, with its rankings."""

from django.db.models import F, QuerySet
from django.db.models.deletion import ProtectedError
from django.db.models.signals import post_delete
from django.dispatch import receiver

from .models import Assignment, Completion, Project, Prompt, Ranking, RankingRevision


def _referenced(ids: list, completion_id: int) -> bool:
    return any(_referenced(item, completion_id) if isinstance(item, list) else item == completion_id for item in ids)


def rankings_referring_to(completion: Completion) -> list[Ranking]:
    """The rankings (or their earlier revisions) and open reservations of the completion's prompt
    that show, rank or flag it. Few rows: one prompt's."""
    cid = completion.pk
    found = [
        ranking for ranking in Ranking.objects.filter(prompt_id=completion.prompt_id)
        if _referenced([ranking.tiers, ranking.flagged, ranking.shown_order], cid)
    ]
    revised = RankingRevision.objects.filter(ranking__prompt_id=completion.prompt_id).select_related("ranking")
    found += [rev.ranking for rev in revised if _referenced([rev.tiers, rev.flagged], cid) and rev.ranking not in found]
    return found


def open_assignments_showing(completion: Completion) -> list[Assignment]:
    reserved = Assignment.objects.filter(prompt_id=completion.prompt_id, status=Assignment.Status.RESERVED)
    return [assignment for assignment in reserved if completion.pk in assignment.shown_order]


def deletion_refused(completion: Completion) -> str | None:
    """Why the completion cannot be deleted on its own, or None when it can."""
    if rankings_referring_to(completion):
        return (f"Completion {completion.pk} cannot be deleted: rankings refer to it, and exports would break. "
                "Delete its prompt instead if it must go.")
    if open_assignments_showing(completion):
        return (f"Completion {completion.pk} cannot be deleted now: a labeler is ranking it. "
                "Try again once their reservation ends.")
    return None


def _with_parent(origin) -> bool:
    """Whether a delete that started at `origin` removes the completions' prompts too."""
    model = origin.model if isinstance(origin, QuerySet) else type(origin)
    return model in (Prompt, Project)


def refuse_ranked(completions) -> None:
    """Raise ProtectedError when one of `completions` may not be deleted on its own."""
    for completion in completions:
        reason = deletion_refused(completion)
        if reason:
            raise ProtectedError(reason, set(rankings_referring_to(completion)))


@receiver(post_delete, sender=Completion, dispatch_uid="completion-count")
def count_deleted_completion(sender, instance: Completion, origin=None, **kwargs) -> None:
    if not _with_parent(origin):  # the prompt stays: one completion fewer
        Prompt.objects.filter(pk=instance.prompt_id, num_completions__gt=0).update(
            num_completions=F("num_completions") - 1)

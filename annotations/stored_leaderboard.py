"""The model leaderboard, computed in the background and stored (ModelLeaderboard), so that the
API and the quality page answer at once: on 100,000 prompts the fit takes tens of seconds. When it
is stale and how at most one refresh is queued: annotations/stored_results.py.

Not noticed: a change of a completion's `model` without a ranking change (the next ranking
refreshes it)."""

from django.db.models import QuerySet

from .leaderboard import Leaderboard, ModelScore
from .model_leaderboard import PAIR_KINDS, project_leaderboard
from .models import ModelLeaderboard, Project
from .stored_results import claim_refresh, is_stale, refresh_stamp, release_refresh


def stored_leaderboard(project: Project, pairs: str) -> tuple[ModelLeaderboard | None, bool]:
    """The stored row (None before the first refresh was claimed) and whether its result is stale
    (missing, or computed before the project's latest ranking). Two queries, whatever the size."""
    row = ModelLeaderboard.objects.filter(project=project, pairs=pairs).first()
    return row, is_stale(row, project.pk)


def _rows(project: Project, pairs: str) -> QuerySet:
    if pairs not in PAIR_KINDS:
        raise ValueError(f"pairs must be one of {', '.join(PAIR_KINDS)}, got {pairs!r}")
    ModelLeaderboard.objects.get_or_create(project=project, pairs=pairs)
    return ModelLeaderboard.objects.filter(project=project, pairs=pairs)


def claim_leaderboard_refresh(project: Project, pairs: str) -> bool:
    """Mark a refresh as queued; True for the one caller that should enqueue it."""
    return claim_refresh(_rows(project, pairs))


def release_leaderboard_refresh(project: Project, pairs: str) -> None:
    release_refresh(ModelLeaderboard.objects.filter(project=project, pairs=pairs))


def refresh_leaderboard(project_id: int, pairs: str) -> Leaderboard:
    """Compute the project's leaderboard and store it (safe to repeat: the last one wins, with the
    stamp of the rankings it was computed from). The stamp is read before the rankings, so a ranking
    stored meanwhile leaves the result stale rather than wrongly fresh."""
    project = Project.objects.get(pk=project_id)
    stamp = refresh_stamp(project_id)
    board = project_leaderboard(project, pairs=pairs)
    fields = {"result": board.as_dict(), **stamp}
    # One INSERT … ON CONFLICT DO UPDATE: the same statement whether the row exists or not.
    ModelLeaderboard.objects.bulk_create([ModelLeaderboard(project=project, pairs=pairs, **fields)],
                                         update_conflicts=True, unique_fields=["project", "pairs"],
                                         update_fields=list(fields))
    return board


def board_from_result(result: dict) -> Leaderboard:
    """A stored result back as a Leaderboard (for the page's chart)."""
    return Leaderboard(
        method=result["method"], bootstrap=result["bootstrap"],
        models=[ModelScore(**row) for row in result["models"]], components=result["components"],
        regularised=result["regularised"], reason=result["reason"],
    )


__all__ = ["board_from_result", "claim_leaderboard_refresh", "refresh_leaderboard", "release_leaderboard_refresh",
           "stored_leaderboard"]

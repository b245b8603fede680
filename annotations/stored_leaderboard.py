"""The model leaderboard, computed in the background and stored (ModelLeaderboard), so that the
API and the quality page answer at once: on 100,000 prompts the fit takes tens of seconds.

* **Stale**: the stored result was computed from the project's rankings as they were then: their
  number and latest `revised_at` (one aggregate query; a new ranking, a revision or a deleted
  ranking changes one of them). When they differ now, the result is stale: it is still served,
  marked `stale`, and a refresh is queued.
* **At most one refresh queued** per project and kind of pairs: `claim_refresh` sets
  `refreshing_since` by a conditional UPDATE, which only one request wins; the refresh clears it.
  A claim older than REFRESH_LEASE (its worker was lost) may be claimed again.
* The doors (API, quality page) enqueue the task; this module imports no task.

Not noticed: a change of a completion's `model` without a ranking change (the next ranking
refreshes it)."""

from datetime import datetime, timedelta

from django.db.models import Count, Max, Q
from django.utils import timezone

from .leaderboard import Leaderboard, ModelScore
from .model_leaderboard import PAIR_KINDS, project_leaderboard
from .models import ModelLeaderboard, Project, Ranking

REFRESH_LEASE = timedelta(minutes=15)  # longer than a refresh of 100,000 prompts on a loaded machine


def rankings_stamp(project_id: int) -> tuple[int, datetime | None]:
    """(number of rankings, latest revised_at) of the project: what a stored result was computed from."""
    stamp = Ranking.objects.filter(project_id=project_id).aggregate(n=Count("id"), latest=Max("revised_at"))
    return stamp["n"], stamp["latest"]


def stored_leaderboard(project: Project, pairs: str) -> tuple[ModelLeaderboard | None, bool]:
    """The stored row (None before the first refresh was claimed) and whether its result is stale
    (missing, or computed from other rankings than the project has now). Two queries."""
    row = ModelLeaderboard.objects.filter(project=project, pairs=pairs).first()
    if row is None or row.result is None:
        return row, True
    return row, (row.rankings_count, row.rankings_revised_at) != rankings_stamp(project.pk)


def claim_refresh(project: Project, pairs: str) -> bool:
    """Mark a refresh as queued; True for the one caller that should enqueue it."""
    if pairs not in PAIR_KINDS:
        raise ValueError(f"pairs must be one of {', '.join(PAIR_KINDS)}, got {pairs!r}")
    ModelLeaderboard.objects.get_or_create(project=project, pairs=pairs)
    now = timezone.now()
    return bool(ModelLeaderboard.objects.filter(project=project, pairs=pairs).filter(
        Q(refreshing_since__isnull=True) | Q(refreshing_since__lt=now - REFRESH_LEASE)
    ).update(refreshing_since=now))


def release_refresh(project: Project, pairs: str) -> None:
    """The refresh could not be queued (broker down): let the next request try again."""
    ModelLeaderboard.objects.filter(project=project, pairs=pairs).update(refreshing_since=None)


def refresh_leaderboard(project_id: int, pairs: str) -> Leaderboard:
    """Compute the project's leaderboard and store it (safe to repeat: the last one wins, with the
    stamp of the rankings it was computed from). The stamp is read before the rankings, so a ranking
    stored meanwhile leaves the result stale rather than wrongly fresh."""
    project = Project.objects.get(pk=project_id)
    count, latest = rankings_stamp(project_id)
    board = project_leaderboard(project, pairs=pairs)
    fields = {"result": board.as_dict(), "computed_at": timezone.now(), "rankings_count": count,
              "rankings_revised_at": latest, "refreshing_since": None}
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


__all__ = ["REFRESH_LEASE", "board_from_result", "claim_refresh", "rankings_stamp", "refresh_leaderboard",
           "release_refresh", "stored_leaderboard"]

"""Results computed by a Celery task and stored (models.StoredResult: the model leaderboard, the
quality report of a large project), so that a page or the API answers at once whatever the
project's size. The rules they share:

* **Small projects are computed in the request**, so their answer is always current: the caller
  decides with `is_small`, which counts the rankings only while the stored count says the project
  may be small.
* **Stale**: a stored result carries `rankings_revised_at`, a stamp of the project's rankings when it
  was computed. The latest Ranking.revised_at is one index lookup (ranking_project_revised_idx)
  whatever the project's size, and a ranking stored or revised since has a later one. A ranking
  whose transaction began before the refresh read the rankings but committed after it can carry an
  earlier one: the stamp stored is never later than STORED_RESULTS_LATE_COMMIT_SECONDS (30) before
  the refresh began, so such a ranking still makes the result stale (at the cost of a refresh or two
  after the last ranking).
  Rankings are never deleted but with their project (labels are PROTECTed). A `max_age` also makes
  a result stale when it depends on more than the rankings (the quality report's progress).
* **At most one refresh queued**: `claim_refresh` sets `refreshing_since` by a conditional UPDATE,
  which only one request wins; storing the result clears it. A claim older than REFRESH_LEASE (its
  worker was lost) may be claimed again. The doors enqueue the task; this module imports none.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from .models import Ranking, StoredResult

REFRESH_LEASE = timedelta(minutes=15)  # longer than a refresh of 1,000,000 prompts


def latest_revision(project_id: int) -> datetime | None:
    """The latest revised_at of the project's rankings (one index lookup)."""
    return Ranking.objects.filter(project_id=project_id).aggregate(latest=Max("revised_at"))["latest"]


def refresh_stamp(project_id: int) -> dict:
    """What a refresh stores beside its result, read before the rankings it computes from."""
    now = timezone.now()
    stamp = Ranking.objects.filter(project_id=project_id).aggregate(n=Count("id"), latest=Max("revised_at"))
    ceiling = now - timedelta(seconds=settings.STORED_RESULTS_LATE_COMMIT_SECONDS)
    latest = ceiling if stamp["latest"] is None else min(stamp["latest"], ceiling)
    return {"computed_at": now, "rankings_count": stamp["n"], "rankings_revised_at": latest,
            "refreshing_since": None}


def is_stale(row: StoredResult | None, project_id: int, max_age: timedelta | None = None) -> bool:
    """Whether the stored result is missing or older than the project's rankings (or than max_age)."""
    if row is None or row.result is None or row.rankings_revised_at is None:
        return True
    if max_age is not None and row.computed_at < timezone.now() - max_age:
        return True
    latest = latest_revision(project_id)
    return latest is not None and latest > row.rankings_revised_at


def is_small(row: StoredResult | None, project_id: int, limit: int) -> bool:
    """Whether the project has at most `limit` rankings: the stored count when it says more, else
    counted up to limit + 1 (counting a million rankings would cost the request its speed)."""
    if row is not None and row.result is not None and row.rankings_count > limit:
        return False
    return Ranking.objects.filter(project_id=project_id)[:limit + 1].count() <= limit


def claim_refresh(rows: QuerySet) -> bool:
    """Mark a refresh of the (existing) stored row as queued; True for the one caller that should enqueue it."""
    now = timezone.now()
    return bool(rows.filter(Q(refreshing_since__isnull=True) | Q(refreshing_since__lt=now - REFRESH_LEASE))
                .update(refreshing_since=now))


def release_refresh(rows: QuerySet) -> None:
    """The refresh could not be queued (broker down): let the next request try again."""
    rows.update(refreshing_since=None)


__all__ = ["REFRESH_LEASE", "claim_refresh", "is_small", "is_stale", "latest_revision",
           "refresh_stamp", "release_refresh"]

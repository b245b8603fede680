"""The quality page: progress, agreement, per-labeler figures, possible misreaders, the prompts with
most disagreement and their rankings side by side. Admins and researchers of the project; for
researchers it is read-only (no canary form) and labelers appear by pseudonym, as in the agreement
API. Charts are server-rendered SVG (geometry computed here, drawn by the template)."""

import math
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ..api.leaderboard import fresh_leaderboard
from ..api.quality import served_quality_report
from ..consensus import MISREADER_MIN_RANKINGS
from ..leaderboard import Leaderboard
from ..publishing import BrokerUnavailable, send_after_commit
from ..quality import LabelerRow
from ..stored_leaderboard import board_from_result
from .project_admin import administered_project, staff_page_project

CHART_WIDTH, CHART_HEIGHT = 560, 180
# Labelers listed on the page, lowest agreement first (a thousand rows would take the page longer to
# render than everything else; the agreement API lists all of them).
LABELERS_ON_PAGE = 100


def bar_chart(values: list[tuple[str, int]], width: int = CHART_WIDTH, height: int = CHART_HEIGHT,
              label_every: int = 1) -> dict:
    """Bars for an SVG chart: each with its x, y, width, height, label and value. Every
    `label_every`-th bar, counting back from the last one, shows its label under the axis."""
    top = max((value for _, value in values), default=0) or 1
    slot = width / max(len(values), 1)
    bars = []
    for i, (label, value) in enumerate(values):
        bar_height = value / top * (height - 20)
        bars.append({
            "x": round(i * slot + 2, 1), "y": round(height - bar_height, 1), "width": round(max(slot - 4, 1), 1),
            "height": round(bar_height, 1), "label": label, "value": value, "centre": round(i * slot + slot / 2, 1),
            "show_label": (len(values) - 1 - i) % label_every == 0,
        })
    return {"bars": bars, "width": width, "height": height, "max": top, "top_y": 20, "middle_x": width / 2,
            "middle_y": height / 2}


def agreement_histogram(shares: dict[float, int], bins: int = 10) -> dict:
    """Prompts per tenth of agreement, from agreement → number of prompts."""
    counts = [0] * bins
    for share, prompts in shares.items():
        counts[min(int(share * bins), bins - 1)] += prompts
    return bar_chart([(f"{i / bins:.1f}", n) for i, n in enumerate(counts)])


def rankings_per_day_chart(per_day: list, days: int = 30) -> dict:
    today = timezone.localdate()
    counts = dict(per_day)
    span = [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    return bar_chart([(day.strftime("%m-%d"), counts.get(day, 0)) for day in span], label_every=5)


def rankings_still_needed(row: LabelerRow) -> int:
    """How many more compared rankings (of prompts someone else also ranked) a labeler needs
    before the misreader rule judges them; 0 once they are judged."""
    compared = row.score.rankings if row.score else 0
    return max(MISREADER_MIN_RANKINGS - compared, 0)


def interval_chart(labelers: list, width: int = CHART_WIDTH, row_height: int = 18) -> dict:
    """One row per measured labeler: agreement as a dot, its 95% interval as a line."""
    rows = []
    measured = [row for row in labelers if row.score is not None]
    for i, row in enumerate(measured):
        rows.append({
            "y": i * row_height + row_height / 2,
            "x": round(row.score.agreement * width, 1),
            "low": round(row.score.ci_low * width, 1),
            "high": round(row.score.ci_high * width, 1),
            "name": row.name,
            "misreader": row.possible_misreader,
        })
    return {"rows": rows, "width": width, "height": max(len(rows), 1) * row_height,
            "ticks": [{"x": round(t / 10 * width, 1), "label": f"{t / 10:.1f}"} for t in range(0, 11, 2)]}


def leaderboard_chart(board: Leaderboard, width: int = CHART_WIDTH, row_height: int = 28) -> dict:
    """One row per model, best first: its score as a dot and its 95% interval as a line, on an
    axis spanning every interval, with round ticks."""
    if not board.models:
        return {"rows": [], "ticks": [], "width": width, "height": row_height}
    low = min(row.ci_low for row in board.models)
    high = max(row.ci_high for row in board.models)
    step = _nice_step((high - low) or 100.0)
    low, high = math.floor(low / step) * step, math.ceil(high / step) * step
    if high == low:
        high = low + step

    def x(value: float) -> float:
        return round((value - low) / (high - low) * width, 1)

    rows = [{
        "y": i * row_height + row_height / 2, "x": x(row.score), "low": x(row.ci_low), "high": x(row.ci_high),
        "model": row.model, "score": row.score, "ci_low": row.ci_low, "ci_high": row.ci_high,
    } for i, row in enumerate(board.models)]
    ticks = [{"x": x(value), "label": f"{value:g}"} for value in _frange(low, high, step)]
    height = len(rows) * row_height
    return {"rows": rows, "ticks": ticks, "width": width, "height": height, "axis_y": height + 16}


def _nice_step(span: float) -> float:
    """A round tick step giving 4 to 10 ticks over `span` (1, 2 or 5 times a power of ten)."""
    raw = span / 6
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _frange(start: float, stop: float, step: float) -> list[float]:
    count = int(round((stop - start) / step))
    return [start + i * step for i in range(count + 1)]


@login_required
def quality_page(request: HttpRequest, slug: str) -> HttpResponse:
    project, is_admin = staff_page_project(request, slug)
    try:  # a large project's report is computed by a background task and stored
        answer = served_quality_report(project)
    except BrokerUnavailable as exc:
        return render(request, "annotations/unavailable.html",
                      {"project": project, "what": "Computing the quality figures", "detail": exc.detail}, status=503)
    report = answer.report
    labelers = report.labelers[:LABELERS_ON_PAGE] if report is not None else []
    try:  # stored by a background task (the fit takes too long for a request); a stale one is refreshed
        stored, stale = fresh_leaderboard(project, "consensus")
    except BrokerUnavailable:
        stored, stale = None, True
    board = board_from_result(stored.result) if stored is not None and stored.result is not None else None
    for row in report.labelers if report is not None else []:
        # Researchers see labelers as the exports and the agreement API show them: by pseudonym.
        row.name = row.username if is_admin else row.pseudonym
        row.needs = rankings_still_needed(row)
    return render(request, "annotations/quality.html", {
        "project": project,
        "is_admin": is_admin,
        "min_rankings": MISREADER_MIN_RANKINGS,
        "report": report,
        "report_computed_at": answer.computed_at,
        "report_stale": answer.stale,
        "report_refreshing": answer.refreshing,
        "histogram": agreement_histogram(report.agreement_counts) if report is not None else None,
        "per_day": rankings_per_day_chart(report.rankings_per_day) if report is not None else None,
        "labelers": labelers,
        "labelers_not_listed": len(report.labelers) - len(labelers) if report is not None else 0,
        "intervals": interval_chart(labelers),
        "leaderboard": board,
        "leaderboard_chart": leaderboard_chart(board) if board is not None else None,
        "leaderboard_computed_at": stored.computed_at if board is not None else None,
        "leaderboard_stale": stale,
        "leaderboard_updating": stored is not None and stored.refreshing_since is not None,
    })


@login_required
@require_POST
def canary_settings(request: HttpRequest, slug: str) -> HttpResponse:
    """Turn canaries on or off, set their share, and (when on) have the workers add them."""
    from ..tasks import add_canaries_task

    project = administered_project(request, slug)
    try:
        share = float(request.POST.get("canary_share", project.canary_share))
    except ValueError:
        share = -1.0
    if not 0 <= share <= 0.5:
        messages.error(request, "The canary share must be a number between 0 and 0.5.")
        return redirect("project-quality", slug=project.slug)
    project.canaries_enabled = request.POST.get("canaries_enabled") == "on"
    project.canary_share = share
    project.save(update_fields=["canaries_enabled", "canary_share"])
    if project.canaries_enabled:
        try:
            send_after_commit(add_canaries_task, kwargs={"project_id": project.pk})
        except BrokerUnavailable as exc:
            return render(request, "annotations/unavailable.html",
                          {"project": project, "what": "Adding canaries", "detail": exc.detail}, status=503)
        messages.success(request, f"Canaries on for {share:.0%} of the prompts; the workers are adding them.")
    else:
        messages.success(request, "Canaries off: no new ones are added (existing ones stay, and stay out of exports).")
    return redirect("project-quality", slug=project.slug)

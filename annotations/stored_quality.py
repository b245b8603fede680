"""The quality report of a large project, computed in the background and stored
(StoredQualityReport), so that the quality page and the agreement API answer at once: at a million
prompts the report, even from the stored per-prompt figures, takes a worker tens of seconds. A
project of at most QUALITY_INLINE_MAX_RANKINGS rankings is computed in the request, always current.
When a stored report is stale and how at most one refresh is queued: annotations/stored_results.py;
it is also refreshed after QUALITY_REPORT_MAX_AGE_SECONDS, as its progress figures (prompts
imported, reserved) change without rankings."""

import dataclasses
from datetime import date, timedelta

from django.conf import settings
from django.db.models import QuerySet

from .consensus import LabelerScore
from .models import Project, StoredQualityReport
from .publishing import BrokerUnavailable
from .quality import LabelerRow, OverlapFigures, PromptRow, QualityReport, quality_report
from .stored_results import claim_refresh, is_small, is_stale, refresh_stamp, release_refresh


def report_as_json(report: QualityReport) -> dict:
    """The report as JSON values (dates as ISO text, the agreement histogram as [share, prompts] pairs)."""
    data = dataclasses.asdict(report)
    data["rankings_per_day"] = [[day.isoformat(), n] for day, n in report.rankings_per_day]
    data["agreement_counts"] = [[share, n] for share, n in report.agreement_counts.items()]
    return data


def report_from_json(data: dict) -> QualityReport:
    """report_as_json's inverse: the same QualityReport."""
    labelers = [LabelerRow(**{**row, "score": LabelerScore(*row["score"]) if row["score"] else None})
                for row in data["labelers"]]
    return QualityReport(**{
        **data,
        "rankings_per_day": [(date.fromisoformat(day), n) for day, n in data["rankings_per_day"]],
        "agreement_counts": {share: n for share, n in data["agreement_counts"]},
        "labelers": labelers,
        "most_disagreement": [PromptRow(**row) for row in data["most_disagreement"]],
        "overlap": OverlapFigures(**data["overlap"]),
    })


def refresh_quality_report(project_id: int) -> QualityReport:
    """Compute the project's quality report and store it (safe to repeat: the last one wins, with
    the stamp of the rankings it was computed from, read before them)."""
    project = Project.objects.get(pk=project_id)
    stamp = refresh_stamp(project_id)
    report = quality_report(project)
    fields = {"result": report_as_json(report), **stamp}
    # One INSERT … ON CONFLICT DO UPDATE: the same statement whether the row exists or not.
    StoredQualityReport.objects.bulk_create([StoredQualityReport(project=project, **fields)],
                                            update_conflicts=True, unique_fields=["project"],
                                            update_fields=list(fields))
    return report


@dataclasses.dataclass
class ReportAnswer:
    """What a door serves: the report (None while the first one is computed) and how old it is."""

    report: QualityReport | None
    computed_at: object = None  # datetime of a stored report; None: computed in this request
    stale: bool = False
    refreshing: bool = False


def current_quality_report(project: Project, enqueue) -> ReportAnswer:
    """The quality report to serve: computed in the request for a small project, else the stored
    one, with a refresh queued when it is missing or stale: `enqueue(on_unreachable)` sends the task
    after the request commits (the door imports the task; this module imports none). Broker down:
    a stored report is still served; with none stored, BrokerUnavailable (503)."""
    row = StoredQualityReport.objects.filter(project=project).first()
    max_age = timedelta(seconds=settings.QUALITY_REPORT_MAX_AGE_SECONDS)
    stale = is_stale(row, project.pk, max_age)
    if stale and is_small(row, project.pk, settings.QUALITY_INLINE_MAX_RANKINGS):
        return ReportAnswer(quality_report(project))
    if stale and claim_refresh(_rows(project)):
        try:
            enqueue(lambda message: release_refresh(_rows(project)))
        except BrokerUnavailable:
            if row is None or row.result is None:
                raise
        row = StoredQualityReport.objects.get(project=project)  # as it is now (stored already, with eager tasks)
        stale = is_stale(row, project.pk, max_age)
    if row is None or row.result is None:
        return ReportAnswer(None, stale=True, refreshing=True)
    return ReportAnswer(report_from_json(row.result), row.computed_at, stale, row.refreshing_since is not None)


def _rows(project: Project) -> QuerySet:
    StoredQualityReport.objects.get_or_create(project=project)
    return StoredQualityReport.objects.filter(project=project)


__all__ = ["ReportAnswer", "current_quality_report", "refresh_quality_report", "report_as_json", "report_from_json"]

"""GET /api/projects/{slug}/agreement/: the quality page's agreement figures as JSON.

A large project's report is computed by a background task and stored (annotations/stored_quality.py);
`served_quality_report` is how this endpoint and the quality page get it."""

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import Project
from ..publishing import send_after_commit
from ..quality import QualityReport
from ..roles import is_project_admin
from ..stored_quality import ReportAnswer, current_quality_report
from .docs import FORBIDDEN, NOT_FOUND, SLUG, UNAVAILABLE
from .permissions import project_for, require_exporter


def served_quality_report(project: Project) -> ReportAnswer:
    """The report to serve (computed now for a small project, else the stored one), a refresh
    queued after the request commits when the stored one is missing or stale."""
    from ..tasks import refresh_quality_report_task

    def enqueue(on_unreachable) -> None:
        send_after_commit(refresh_quality_report_task, kwargs={"project_id": project.pk},
                          on_unreachable=on_unreachable)

    return current_quality_report(project, enqueue)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def agreement_payload(report: QualityReport, with_usernames: bool) -> dict:
    """The contract's shape: {"overall": {...}, "labelers": [{"labeler", "username" (admins
    only), "rankings", "agreement", "ci_low", "ci_high", ...}]}; agreement on the 0–1 scale of
    `--exclude-labelers-below`, null for a labeler none of whose rankings could be compared yet."""
    labelers = []
    for row in report.labelers:
        entry = {"labeler": row.pseudonym}
        if with_usernames:
            entry["username"] = row.username
        score = row.score
        entry.update(
            rankings=row.rankings,
            rankings_compared=score.rankings if score else 0,
            agreement=_round(score.agreement) if score else None,
            ci_low=_round(score.ci_low) if score else None,
            ci_high=_round(score.ci_high) if score else None,
            canaries_seen=row.canaries_seen,
            canary_pass_rate=_round(row.canary_pass_rate),
            possible_misreader=row.possible_misreader,
        )
        labelers.append(entry)
    return {
        "overall": {
            "pairwise_agreement": _round(report.pairwise_agreement),
            "kendalls_w": _round(report.kendalls_w),
            "krippendorff_alpha": _round(report.krippendorff_alpha),
            "prompts_compared": report.prompts_compared,
            "rankings": report.rankings,
            "consensus_method": "ranked_pairs",
        },
        "labelers": labelers,
    }


def freshness(answer: ReportAnswer) -> dict:
    return {"computed_at": answer.computed_at, "stale": answer.stale, "refreshing": answer.refreshing}


def _ratio(help_text: str):
    return serializers.FloatField(allow_null=True, help_text=help_text)


AgreementOut = inline_serializer("AgreementOut", {
    "overall": inline_serializer("OverallAgreement", {
        "pairwise_agreement": _ratio("Share of pairs on which two labelers of a prompt agree (0–1)."),
        "kendalls_w": _ratio("Kendall's W over prompts with complete rankings (0–1)."),
        "krippendorff_alpha": _ratio("Krippendorff's alpha, ordinal."),
        "prompts_compared": serializers.IntegerField(),
        "rankings": serializers.IntegerField(),
        "consensus_method": serializers.CharField(),
    }),
    "labelers": inline_serializer("LabelerAgreement", {
        "labeler": serializers.CharField(help_text="A stable pseudonym."),
        "username": serializers.CharField(required=False, help_text="Only for the project's admins."),
        "rankings": serializers.IntegerField(),
        "rankings_compared": serializers.IntegerField(),
        "agreement": _ratio("Agreement with the consensus, 0–1; null until a ranking could be compared."),
        "ci_low": _ratio("95% interval, low end."),
        "ci_high": _ratio("95% interval, high end."),
        "canaries_seen": serializers.IntegerField(),
        "canary_pass_rate": _ratio("Canaries put last or flagged."),
        "possible_misreader": serializers.BooleanField(),
    }, many=True),
    "computed_at": serializers.DateTimeField(
        allow_null=True, help_text="When a large project's stored figures were computed; null: computed now."),
    "stale": serializers.BooleanField(
        help_text="Rankings changed since: a refresh is queued; these are the previous figures."),
    "refreshing": serializers.BooleanField(help_text="A refresh is queued or running."),
})
Computing = inline_serializer("AgreementComputing", {
    "status": serializers.CharField(help_text='"computing": no figures are stored yet; ask again shortly.'),
})


@extend_schema(tags=["quality"], parameters=[SLUG])
class ProjectAgreement(APIView):
    @extend_schema(
        summary="Agreement: each labeler's with the consensus, and the project's overall (researchers, admins)",
        description="Uses each assignment's latest revision. Admins also see usernames; researchers pseudonyms.\n\n"
                    "A project with at most QUALITY_INLINE_MAX_RANKINGS rankings (default 20,000) is computed in "
                    "the request, always current (`computed_at` null). A larger one is computed by a background "
                    "task and stored: the answer is the stored figures with `computed_at`; when rankings changed "
                    "since (or after QUALITY_REPORT_MAX_AGE_SECONDS), `stale` is true and a refresh is queued. "
                    "Before the first computation: 202 with `{\"status\": \"computing\"}`.",
        responses={200: AgreementOut, 202: Computing, 403: FORBIDDEN, 404: NOT_FOUND, 503: UNAVAILABLE},
        examples=[OpenApiExample("Three labelers", response_only=True, value={
            "overall": {"pairwise_agreement": 0.8125, "kendalls_w": 0.7333, "krippendorff_alpha": 0.6012,
                        "prompts_compared": 12, "rankings": 36, "consensus_method": "ranked_pairs"},
            "labelers": [{"labeler": "L-3f2a", "username": "alice", "rankings": 12, "rankings_compared": 12,
                          "agreement": 0.9167, "ci_low": 0.8, "ci_high": 1.0, "canaries_seen": 1,
                          "canary_pass_rate": 1.0, "possible_misreader": False}],
            "computed_at": None, "stale": False, "refreshing": False})],
    )
    def get(self, request, slug: str):
        project = project_for(request, slug)
        require_exporter(request, project)  # researchers and admins
        answer = served_quality_report(project)
        if answer.report is None:
            return Response({"status": "computing"}, status=202)
        payload = agreement_payload(answer.report, with_usernames=is_project_admin(request.user, project))
        return Response({**payload, **freshness(answer)})

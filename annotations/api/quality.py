"""GET /api/projects/{slug}/agreement/: the quality page's agreement figures as JSON."""

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ..quality import QualityReport, quality_report
from ..roles import is_project_admin
from .docs import FORBIDDEN, NOT_FOUND, SLUG
from .permissions import project_for, require_exporter


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
})


@extend_schema(tags=["quality"], parameters=[SLUG])
class ProjectAgreement(APIView):
    @extend_schema(
        summary="Agreement: each labeler's with the consensus, and the project's overall (researchers, admins)",
        description="Uses each assignment's latest revision. Admins also see usernames; researchers pseudonyms.",
        responses={200: AgreementOut, 403: FORBIDDEN, 404: NOT_FOUND},
        examples=[OpenApiExample("Three labelers", response_only=True, value={
            "overall": {"pairwise_agreement": 0.8125, "kendalls_w": 0.7333, "krippendorff_alpha": 0.6012,
                        "prompts_compared": 12, "rankings": 36, "consensus_method": "ranked_pairs"},
            "labelers": [{"labeler": "L-3f2a", "username": "alice", "rankings": 12, "rankings_compared": 12,
                          "agreement": 0.9167, "ci_low": 0.8, "ci_high": 1.0, "canaries_seen": 1,
                          "canary_pass_rate": 1.0, "possible_misreader": False}]})],
    )
    def get(self, request, slug: str):
        project = project_for(request, slug)
        require_exporter(request, project)  # researchers and admins
        report = quality_report(project)
        return Response(agreement_payload(report, with_usernames=is_project_admin(request.user, project)))

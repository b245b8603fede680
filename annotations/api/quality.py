"""GET /api/projects/{slug}/agreement/: the quality page's agreement figures as JSON."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from ..quality import QualityReport, quality_report
from ..roles import is_project_admin
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
            "prompts_compared": len(report.prompt_agreements),
            "rankings": report.rankings,
            "consensus_method": "ranked_pairs",
        },
        "labelers": labelers,
    }


class ProjectAgreement(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request, slug: str):
        project = project_for(request, slug)
        require_exporter(request, project)  # researchers and admins
        report = quality_report(project)
        return Response(agreement_payload(report, with_usernames=is_project_admin(request.user, project)))

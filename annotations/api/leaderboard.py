"""GET /api/projects/{slug}/leaderboard/: which model the project's rankings prefer (Bradley–Terry)."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from ..leaderboard import DEFAULT_BOOTSTRAP
from ..model_leaderboard import PAIR_KINDS, project_leaderboard
from .docs import BAD_REQUEST, FORBIDDEN, NOT_FOUND, SLUG
from .permissions import project_for, require_exporter

LeaderboardOut = inline_serializer("LeaderboardOut", {
    "method": serializers.CharField(help_text='"bradley-terry".'),
    "bootstrap": serializers.IntegerField(help_text="Bootstrap resamples (by prompt) behind the intervals."),
    "pairs": serializers.CharField(help_text='"consensus" (one pair per prompt) or "labeler" (one per ranking).'),
    "models": inline_serializer("LeaderboardModel", {
        "model": serializers.CharField(
            help_text='Completion.model; "uploaded" for an uploaded completion without one.'),
        "score": serializers.FloatField(help_text="Elo scale: 400 points = odds of 10 to 1; the models' mean is 1000."),
        "ci_low": serializers.FloatField(help_text="95% bootstrap interval, low end."),
        "ci_high": serializers.FloatField(help_text="95% bootstrap interval, high end."),
        "wins": serializers.IntegerField(),
        "losses": serializers.IntegerField(),
        "ties": serializers.IntegerField(),
        "pairs": serializers.IntegerField(),
        "longer_won": serializers.FloatField(
            allow_null=True, help_text="Share of its decided pairs (different lengths) won by the longer completion."),
        "component": serializers.IntegerField(
            help_text="Models with no chain of pairs between them are fitted apart: compare scores within one."),
    }, many=True),
    "components": serializers.ListField(child=serializers.ListField(child=serializers.CharField())),
    "regularised": serializers.BooleanField(
        help_text="A model never lost (or never won): a small ridge keeps it finite."),
    "reason": serializers.CharField(allow_null=True, help_text="Why `models` is empty, else null."),
})


@extend_schema(tags=["quality"], parameters=[SLUG])
class ProjectLeaderboard(APIView):
    @extend_schema(
        summary="Model leaderboard: Bradley–Terry scores with 95% intervals (researchers, admins)",
        description="Fitted on the pairs between completions of different models, ties as half a win, best "
                    f"first; intervals from {DEFAULT_BOOTSTRAP} bootstrap resamples of the prompts. With fewer "
                    "than two models, or no pair between them, `models` is empty and `reason` says why.",
        parameters=[OpenApiParameter("pairs", str, enum=list(PAIR_KINDS), required=False,
                                     description="consensus (default): each prompt's consensus; labeler: every "
                                                 "ranking's pairs.")],
        responses={200: LeaderboardOut, 400: BAD_REQUEST, 403: FORBIDDEN, 404: NOT_FOUND},
        examples=[OpenApiExample("Two models", response_only=True, value={
            "method": "bradley-terry", "bootstrap": 200, "pairs": "consensus",
            "models": [
                {"model": "qwen2.5-7b", "score": 1068.2, "ci_low": 1041.0, "ci_high": 1097.5, "wins": 61,
                 "losses": 30, "ties": 9, "pairs": 100, "longer_won": 0.58, "component": 0},
                {"model": "uploaded", "score": 931.8, "ci_low": 902.5, "ci_high": 959.0, "wins": 30,
                 "losses": 61, "ties": 9, "pairs": 100, "longer_won": 0.58, "component": 0}],
            "components": [["qwen2.5-7b", "uploaded"]], "regularised": False, "reason": None})],
    )
    def get(self, request, slug: str):
        project = project_for(request, slug)
        require_exporter(request, project)  # researchers and admins
        kind = request.query_params.get("pairs", "consensus")
        if kind not in PAIR_KINDS:
            raise ValidationError({"pairs": [f"pairs must be one of {', '.join(PAIR_KINDS)}, got {kind!r}"]})
        board = project_leaderboard(project, pairs=kind)
        return Response({**board.as_dict(), "pairs": kind})

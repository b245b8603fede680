"""GET /api/projects/{slug}/leaderboard/: which model the project's rankings prefer (Bradley–Terry).

The leaderboard is computed by a Celery task and stored (annotations/stored_leaderboard.py): the
answer is the stored one, with its age and whether rankings changed since; a missing or stale one
is refreshed in the background (at most one refresh queued per project and kind of pairs)."""

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from ..leaderboard import DEFAULT_BOOTSTRAP
from ..model_leaderboard import PAIR_KINDS
from ..models import ModelLeaderboard, Project
from ..publishing import BrokerUnavailable, send_after_commit
from ..stored_leaderboard import (
    claim_leaderboard_refresh,
    refresh_leaderboard,
    release_leaderboard_refresh,
    stored_leaderboard,
)
from ..stored_results import is_small
from .docs import BAD_REQUEST, FORBIDDEN, NOT_FOUND, SLUG, UNAVAILABLE
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
    "computed_at": serializers.DateTimeField(help_text="When this leaderboard was computed (by a background task)."),
    "stale": serializers.BooleanField(
        help_text="Rankings were added, revised or deleted since: a refresh is queued; this is the previous result."),
    "refreshing": serializers.BooleanField(help_text="A refresh is queued or running."),
})
Computing = inline_serializer("LeaderboardComputing", {
    "status": serializers.CharField(help_text='"computing": no leaderboard is stored yet; ask again shortly.'),
    "pairs": serializers.CharField(),
})


def fresh_leaderboard(project: Project, pairs: str) -> tuple[ModelLeaderboard | None, bool]:
    """The stored leaderboard and whether it is stale; a missing or stale one gets a refresh queued
    (after the request's transaction commits), unless one already is. Broker down: the stored
    result is still served; with none stored, BrokerUnavailable (503)."""
    row, stale = stored_leaderboard(project, pairs)
    if stale and is_small(row, project.pk, settings.LEADERBOARD_INLINE_MAX_RANKINGS):
        # A project this small is fitted in the request (well under a second): its answer is always
        # current. Larger ones are fitted by the worker, and the stored answer is served meanwhile.
        refresh_leaderboard(project.pk, pairs)
        return ModelLeaderboard.objects.get(project=project, pairs=pairs), False
    if stale and claim_leaderboard_refresh(project, pairs):
        from ..tasks import refresh_leaderboard_task

        try:
            send_after_commit(refresh_leaderboard_task, kwargs={"project_id": project.pk, "pairs": pairs},
                              on_unreachable=lambda message: release_leaderboard_refresh(project, pairs))
        except BrokerUnavailable:
            if row is None or row.result is None:
                raise
        row, stale = stored_leaderboard(project, pairs)  # as it is now (run already, with eager tasks)
    return row, stale


@extend_schema(tags=["quality"], parameters=[SLUG])
class ProjectLeaderboard(APIView):
    @extend_schema(
        summary="Model leaderboard: Bradley–Terry scores with 95% intervals (researchers, admins)",
        description="Fitted on the pairs between completions of different models, ties as half a win, best "
                    f"first; intervals from {DEFAULT_BOOTSTRAP} bootstrap resamples of the prompts. With fewer "
                    "than two models, or no pair between them, `models` is empty and `reason` says why.\n\n"
                    "A project with at most LEADERBOARD_INLINE_MAX_RANKINGS rankings (default 20,000) is fitted "
                    "in the request, so its answer is always current. A larger one is "
                    "computed by a background task and stored: the answer is the stored leaderboard, with "
                    "`computed_at`; when rankings changed since, `stale` is true and a refresh is queued (one "
                    "at a time). Before the first computation: 202 with `{\"status\": \"computing\"}`; ask "
                    "again in a few seconds.",
        parameters=[OpenApiParameter("pairs", str, enum=list(PAIR_KINDS), required=False,
                                     description="consensus (default): each prompt's consensus; labeler: every "
                                                 "ranking's pairs.")],
        responses={200: LeaderboardOut, 202: Computing, 400: BAD_REQUEST, 403: FORBIDDEN, 404: NOT_FOUND,
                   503: UNAVAILABLE},  # only when nothing is stored yet: a stored one is served, stale
        examples=[OpenApiExample("Two models", response_only=True, value={
            "method": "bradley-terry", "bootstrap": 200, "pairs": "consensus",
            "models": [
                {"model": "qwen2.5-7b", "score": 1068.2, "ci_low": 1041.0, "ci_high": 1097.5, "wins": 61,
                 "losses": 30, "ties": 9, "pairs": 100, "longer_won": 0.58, "component": 0},
                {"model": "uploaded", "score": 931.8, "ci_low": 902.5, "ci_high": 959.0, "wins": 30,
                 "losses": 61, "ties": 9, "pairs": 100, "longer_won": 0.58, "component": 0}],
            "components": [["qwen2.5-7b", "uploaded"]], "regularised": False, "reason": None,
            "computed_at": "2026-12-02T14:05:00Z", "stale": False, "refreshing": False}),
                  OpenApiExample("Not computed yet", response_only=True, status_codes=["202"],
                                 value={"status": "computing", "pairs": "consensus"})],
    )
    def get(self, request, slug: str):
        project = project_for(request, slug)
        require_exporter(request, project)  # researchers and admins
        kind = request.query_params.get("pairs", "consensus")
        if kind not in PAIR_KINDS:
            raise ValidationError({"pairs": [f"pairs must be one of {', '.join(PAIR_KINDS)}, got {kind!r}"]})
        row, stale = fresh_leaderboard(project, kind)
        if row is None or row.result is None:
            return Response({"status": "computing", "pairs": kind}, status=202)
        return Response({**row.result, "pairs": kind, "computed_at": row.computed_at, "stale": stale,
                         "refreshing": row.refreshing_since is not None})

"""The labeling loop: next task, submit or revise a ranking, skip, reopen one's own rankings.

Thin views: the body is validated by RankingIn, the work is done by one service call
(assignment.py, revisions.py), the answer is serialized. The labeling views always answer JSON."""

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from ..assignment import next_assignment, skip_assignment, submit_ranking
from ..revisions import own_ranking, recent_rankings, revise_ranking
from ..roles import labeling_project
from .serializers import OwnRankingOut, RankingIn, RankingOut, RecentRankingOut, TextRef

RANKING_EXAMPLE = OpenApiExample(
    "A ranking with a tie and a flag",
    value={"tiers": [[103], [101, 104], [102]], "flagged": [105], "duration_ms": 41000},
    request_only=True,
)

TaskOut = inline_serializer("TaskOut", {
    "assignment": serializers.IntegerField(),
    "project": serializers.SlugField(),
    "prompt": TextRef(),
    "completions": TextRef(many=True, help_text="In the order to show them."),
    "instructions_version": serializers.IntegerField(allow_null=True),
    "reserved_until": serializers.DateTimeField(),
})


class LabelingView(APIView):
    renderer_classes = [JSONRenderer]  # no content negotiation on the hot path: always JSON


def task_payload(assignment, project) -> dict:
    """The contract's task: the prompt and its completions in the order to show them."""
    return {
        "assignment": assignment.pk,
        "project": project.slug,
        "prompt": {"id": assignment.prompt_id, "text": assignment.prompt.text},
        "completions": [{"id": cid, "text": text} for cid, text in assignment.shown_completions],
        "instructions_version": project.instructions_version,
        "reserved_until": assignment.reserved_until,
    }


def ranking_fields(request) -> dict:
    """The validated body of a ranking (POST or PUT). A 400 lists the errors by field and sums
    them up in "detail" (which the labeling page shows)."""
    body = RankingIn(data=request.data)
    if not body.is_valid():
        errors = dict(body.errors)
        raise ValidationError({**errors, "detail": _first_message(errors)})
    return body.validated_data


def _first_message(errors) -> str:
    if isinstance(errors, dict):
        for key, value in errors.items():
            message = _first_message(value)
            # Nested errors (a tier, an id) carry no field name: prefix it.
            named = isinstance(key, int) or key == "non_field_errors" or message.startswith('"')
            return message if named else f'"{key}": {message}'
    if isinstance(errors, list) and errors:
        return _first_message(errors[0])
    return str(errors)


class NextTask(LabelingView):
    @extend_schema(request=None, responses={200: TaskOut, 204: None})
    def post(self, request, slug: str):
        project = labeling_project(request.user, slug)
        assignment = next_assignment(project, request.user)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(task_payload(assignment, project))


class AssignmentRanking(LabelingView):
    @extend_schema(request=RankingIn, responses={201: RankingOut, 200: RankingOut}, examples=[RANKING_EXAMPLE],
                   description="Submit a ranking. An identical repeat answers 200 and stores nothing; a "
                               "different ranking of a submitted assignment answers 409 (revise it with PUT).")
    def post(self, request, assignment_id: int):
        fields = ranking_fields(request)
        ranking, created = submit_ranking(assignment_id, request.user, **fields)
        return Response(RankingOut(ranking).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=RankingIn, responses={200: RankingOut}, examples=[RANKING_EXAMPLE],
                   description="Revise your submitted ranking: it becomes revision n+1 (the earlier one is kept). "
                               "An identical ranking answers 200 with the revision unchanged; an assignment not "
                               "submitted yet answers 409.")
    def put(self, request, assignment_id: int):
        fields = ranking_fields(request)
        ranking, _ = revise_ranking(assignment_id, request.user, **fields)
        return Response(RankingOut(ranking).data)

    @extend_schema(responses={200: OwnRankingOut},
                   description="Your submitted ranking of this assignment, to reopen it (404 if there is none).")
    def get(self, request, assignment_id: int):
        ranking, completions = own_ranking(assignment_id, request.user)
        return Response(OwnRankingOut({
            "assignment": ranking.assignment_id,
            "project": ranking.project.slug,
            "prompt": ranking.prompt,
            "completions": [{"id": cid, "text": text} for cid, text in completions],
            "tiers": ranking.tiers,
            "flagged": ranking.flagged,
            "revision": ranking.revision,
            "duration_ms": ranking.duration_ms,
            "instructions_version": ranking.instruction_version,
            "submitted": ranking.submitted_at,
            "revised": ranking.revised_at if ranking.revision > 1 else None,
        }).data)


class SkipAssignment(LabelingView):
    @extend_schema(request=None, responses={200: inline_serializer("SkipOut", {
        "assignment": serializers.IntegerField(), "status": serializers.CharField()})})
    def post(self, request, assignment_id: int):
        assignment = skip_assignment(assignment_id, request.user)
        return Response({"assignment": assignment.pk, "status": assignment.status})


class MyRankings(LabelingView):
    @extend_schema(responses={200: RecentRankingOut(many=True)},
                   description="Your last 50 rankings in this project, newest revision first.")
    def get(self, request, slug: str):
        project = labeling_project(request.user, slug)
        return Response(RecentRankingOut(recent_rankings(project, request.user), many=True).data)

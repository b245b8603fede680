"""The labeling loop: next task, submit or revise a ranking, skip, reopen one's own rankings.

Thin views: the body is validated by RankingIn, the work is done by one service call
(assignment.py, revisions.py), the answer is serialized. The labeling views always answer JSON."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from labelhub.metrics import TASK_CLAIMS

from ..assignment import next_assignment, skip_assignment, submit_ranking
from ..revisions import own_ranking, recent_rankings, revise_ranking
from ..roles import labeling_project
from .docs import (
    ASSIGNMENT_ID,
    COMPLETIONS_EXAMPLE,
    NOT_FOUND,
    PROMPT_EXAMPLE,
    RANKING_BODY_EXAMPLE,
    SLUG,
    ErrorOut,
    detail_example,
)
from .serializers import OwnRankingOut, PromptRef, RankingIn, RankingOut, RecentRankingOut, TextRef

# Members who see the project but are not its labelers (researchers, admins, site admins).
NOT_A_LABELER = OpenApiResponse(ErrorOut, description="A member of the project who is not one of its labelers.",
                                examples=[detail_example("Not a labeler", "Only the project's labelers may label.",
                                                         "403")])

# The lecture's example: completions 101, 102, 103 judged 2nd, 1st, 3rd.
RANKING_EXAMPLE = OpenApiExample("Three completions ranked 2, 1, 3", value=RANKING_BODY_EXAMPLE, request_only=True)
TIE_AND_FLAG_EXAMPLE = OpenApiExample(
    "A tie and a flag", value={"tiers": [[102, 101]], "flagged": [103], "duration_ms": 52000}, request_only=True,
)
RANKING_OUT_EXAMPLE = {
    "id": 58, "assignment": 311, "tiers": [[102], [101], [103]], "flagged": [], "instructions_version": 1,
    "duration_ms": 41000, "submitted_at": "2026-12-02T07:41:05Z", "revision": 1,
    "revised_at": "2026-12-02T07:41:05Z",
}
RANKING_ERRORS_SCHEMA = {
    "type": "object",
    "description": 'A ranking\'s errors: "detail" says what is wrong in one sentence; a body that fails its types '
                   'also lists the errors by field (a tier\'s errors keyed by its index).',
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
    "additionalProperties": True,
}
RANKING_400 = OpenApiResponse(
    RANKING_ERRORS_SCHEMA, description="The ranking breaks a rule (a completion missing or twice, a tie where the "
                                       "project allows none, an unknown id, a bad type).",
    examples=[
        OpenApiExample("A completion missing", response_only=True, status_codes=["400"],
                       value={"detail": "completions neither ranked nor flagged: [103]"}),
        OpenApiExample("Tiers as a string", response_only=True, status_codes=["400"], value={
            "tiers": ['"tiers" must be a list of lists of completion ids'],
            "detail": '"tiers" must be a list of lists of completion ids'}),
    ],
)
CONFLICT_MESSAGE = "this assignment already has a different ranking; revise it with PUT instead"
ASSIGNMENT_404 = OpenApiResponse(ErrorOut, description="Not your assignment, no such assignment, or you are no "
                                                       "longer a member of its project.",
                                 examples=[detail_example("Not found", "Not found.", "404")])


TaskOut = inline_serializer("TaskOut", {
    "assignment": serializers.IntegerField(),
    "project": serializers.SlugField(),
    "prompt": PromptRef(),
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
        "prompt": {"id": assignment.prompt_id, "text": assignment.prompt.text, "messages": assignment.prompt.messages},
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


@extend_schema(tags=["labeling"], parameters=[SLUG])
class NextTask(LabelingView):
    @extend_schema(
        request=None,
        summary="Reserve the next prompt to rank (labelers)",
        description="Answers the same assignment again while you hold it. Show the completions in the order "
                    "given (it is shuffled per labeler). 204 when nothing is left for you.",
        responses={200: TaskOut, 204: OpenApiResponse(description="Nothing left for this labeler."),
                   403: NOT_A_LABELER, 404: NOT_FOUND},
        examples=[OpenApiExample("A task", response_only=True, status_codes=["200"], value={
            "assignment": 311, "project": "helpful", "prompt": PROMPT_EXAMPLE, "completions": COMPLETIONS_EXAMPLE,
            "instructions_version": 1, "reserved_until": "2026-12-02T08:11:00Z"})],
    )
    def post(self, request, slug: str):
        project = labeling_project(request.user, slug)
        assignment = next_assignment(project, request.user)
        TASK_CLAIMS.labels("empty" if assignment is None else "assigned").inc()
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(task_payload(assignment, project))


@extend_schema(tags=["labeling"], parameters=[ASSIGNMENT_ID])
class AssignmentRanking(LabelingView):
    @extend_schema(request=RankingIn, summary="Submit a ranking of an assignment",
                   responses={201: RankingOut, 200: RankingOut, 400: RANKING_400, 404: ASSIGNMENT_404,
                              409: OpenApiResponse(ErrorOut, description="Already submitted with a different "
                                                                         "ranking (revise it with PUT), skipped, or "
                                                                         "expired and given to another labeler.",
                                                   examples=[detail_example("Different ranking", CONFLICT_MESSAGE,
                                                                            "409")])},
                   examples=[RANKING_EXAMPLE, TIE_AND_FLAG_EXAMPLE,
                             OpenApiExample("Stored", value=RANKING_OUT_EXAMPLE, response_only=True,
                                            status_codes=["201"])],
                   description="Submit a ranking. An identical repeat answers 200 and stores nothing; a "
                               "different ranking of a submitted assignment answers 409 (revise it with PUT).")
    def post(self, request, assignment_id: int):
        fields = ranking_fields(request)
        ranking, created = submit_ranking(assignment_id, request.user, **fields)
        return Response(RankingOut(ranking).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=RankingIn, summary="Revise your submitted ranking",
                   responses={200: RankingOut, 400: RANKING_400, 404: ASSIGNMENT_404,
                              409: OpenApiResponse(ErrorOut, description="Not submitted yet: POST it first.")},
                   examples=[OpenApiExample("Now 1, 2, 3", value={"tiers": [[101], [102], [103]], "flagged": [],
                                                                  "duration_ms": 9000}, request_only=True),
                             OpenApiExample("Revision 2", response_only=True, status_codes=["200"], value={
                                 **RANKING_OUT_EXAMPLE, "tiers": [[101], [102], [103]], "duration_ms": 9000,
                                 "revision": 2, "revised_at": "2026-12-02T07:44:30Z"})],
                   description="Revise your submitted ranking: it becomes revision n+1 (the earlier one is kept). "
                               "An identical ranking answers 200 with the revision unchanged; an assignment not "
                               "submitted yet answers 409.")
    def put(self, request, assignment_id: int):
        fields = ranking_fields(request)
        ranking, _ = revise_ranking(assignment_id, request.user, **fields)
        return Response(RankingOut(ranking).data)

    @extend_schema(responses={200: OwnRankingOut, 404: ASSIGNMENT_404}, summary="Reopen your submitted ranking",
                   examples=[OpenApiExample("Reopened", response_only=True, value={
                       "assignment": 311, "project": "helpful", "prompt": PROMPT_EXAMPLE,
                       "completions": COMPLETIONS_EXAMPLE, "tiers": [[102], [101], [103]], "flagged": [],
                       "revision": 1, "duration_ms": 41000, "instructions_version": 1,
                       "submitted": "2026-12-02T07:41:05Z", "revised": None})],
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


@extend_schema(tags=["labeling"], parameters=[ASSIGNMENT_ID])
class SkipAssignment(LabelingView):
    @extend_schema(request=None, summary="Skip an assignment: the prompt goes to another labeler",
                   responses={200: inline_serializer("SkipOut", {
                       "assignment": serializers.IntegerField(), "status": serializers.CharField()}),
                       404: ASSIGNMENT_404,
                       409: OpenApiResponse(ErrorOut, description="Already submitted: it cannot be skipped.")},
                   examples=[OpenApiExample("Skipped", value={"assignment": 311, "status": "skipped"},
                                            response_only=True, status_codes=["200"])])
    def post(self, request, assignment_id: int):
        assignment = skip_assignment(assignment_id, request.user)
        return Response({"assignment": assignment.pk, "status": assignment.status})


@extend_schema(tags=["labeling"], parameters=[SLUG])
class MyRankings(LabelingView):
    @extend_schema(responses={200: RecentRankingOut(many=True), 403: NOT_A_LABELER, 404: NOT_FOUND},
                   summary="Your recent rankings",
                   examples=[OpenApiExample("One revised", response_only=True, value=[
                       {"assignment": 311, "prompt": PROMPT_EXAMPLE, "submitted": "2026-12-02T07:41:05Z",
                        "revised": "2026-12-02T07:44:30Z", "revision": 2}])],
                   description="Your last 50 rankings in this project, newest revision first.")
    def get(self, request, slug: str):
        project = labeling_project(request.user, slug)
        return Response(RecentRankingOut(recent_rankings(project, request.user), many=True).data)

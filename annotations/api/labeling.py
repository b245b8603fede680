"""The labeling loop: next task, submit a ranking, skip."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from ..assignment import next_assignment, skip_assignment, submit_ranking
from ..models import Completion
from .permissions import project_for, require_labeler
from .serializers import RankingIn, RankingOut


def task_payload(assignment) -> dict:
    """The contract's task: the prompt and its completions in the order to show them."""
    texts = dict(Completion.objects.filter(pk__in=assignment.shown_order).values_list("pk", "text"))
    current = assignment.project.current_instructions()
    return {
        "assignment": assignment.pk,
        "project": assignment.project.slug,
        "prompt": {"id": assignment.prompt_id, "text": assignment.prompt.text},
        "completions": [{"id": cid, "text": texts[cid]} for cid in assignment.shown_order if cid in texts],
        "instructions_version": current.version if current else None,
        "reserved_until": assignment.reserved_until,
    }


class NextTask(APIView):
    @extend_schema(request=None, responses={200: dict, 204: None})
    def post(self, request, slug: str):
        project = project_for(request, slug)
        require_labeler(request, project)
        assignment = next_assignment(project, request.user)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        assignment.project = project
        return Response(task_payload(assignment))


class SubmitRanking(APIView):
    @extend_schema(request=RankingIn, responses={201: RankingOut, 200: RankingOut})
    def post(self, request, assignment_id: int):
        body = RankingIn(data=request.data)
        body.is_valid(raise_exception=True)
        ranking, created = submit_ranking(assignment_id, request.user, **body.validated_data)
        return Response(RankingOut(ranking).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class SkipAssignment(APIView):
    @extend_schema(request=None, responses={200: dict})
    def post(self, request, assignment_id: int):
        assignment = skip_assignment(assignment_id, request.user)
        return Response({"assignment": assignment.pk, "status": assignment.status})

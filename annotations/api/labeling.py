"""The labeling loop: next task, submit a ranking, skip."""

from django.db.models import Exists, OuterRef, Subquery
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from ..assignment import next_assignment, skip_assignment, submit_ranking
from ..models import Completion, InstructionVersion, Membership, Project
from .serializers import RankingIn, RankingOut


def task_payload(assignment) -> dict:
    """The contract's task: the prompt and its completions in the order to show them."""
    # A new assignment carries its completions' texts (next_assignment read them with the claim).
    shown = getattr(assignment, "shown_completions", None)
    if shown is None:
        shown = Completion.objects.filter(pk__in=assignment.shown_order).values_list("pk", "text")
    texts = dict(shown)
    project = assignment.project
    if hasattr(project, "instructions_version"):  # annotated by labeling_project
        version = project.instructions_version
    else:
        current = project.current_instructions()
        version = current.version if current else None
    return {
        "assignment": assignment.pk,
        "project": assignment.project.slug,
        "prompt": {"id": assignment.prompt_id, "text": assignment.prompt.text},
        "completions": [{"id": cid, "text": texts[cid]} for cid in assignment.shown_order if cid in texts],
        "instructions_version": version,
        "reserved_until": assignment.reserved_until,
    }


def labeling_project(request, slug: str) -> Project:
    """The project, its current instructions version and the caller's roles in one query (the
    labeling loop is the hot path): 404 for non-members, 403 for members who do not label, the
    same answers as project_for and require_labeler."""
    user = request.user
    memberships = Membership.objects.filter(project=OuterRef("pk"), user=user)
    latest = InstructionVersion.objects.filter(project=OuterRef("pk")).order_by("-version").values("version")[:1]
    project = (
        Project.objects.filter(slug=slug)
        .annotate(
            is_member=Exists(memberships),
            is_labeler=Exists(memberships.filter(role=Membership.Role.LABELER)),
            instructions_version=Subquery(latest),
        )
        .first()
    )
    if project is None or not (project.is_member or user.is_staff):
        raise Http404
    if not (project.is_labeler or user.is_staff):
        raise PermissionDenied("Only the project's labelers may label.")
    return project


class NextTask(APIView):
    @extend_schema(request=None, responses={200: dict, 204: None})
    def post(self, request, slug: str):
        project = labeling_project(request, slug)
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

"""The labeling loop: next task, submit a ranking, skip."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from ..assignment import next_assignment, skip_assignment, submit_ranking
from ..models import Completion, InstructionVersion, Membership, Project
from ..ranking import submission_fields
from ..rows import columns, fetch_instance
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
    labeling loop is the hot path, hence plain SQL): 404 for non-members, 403 for members who do
    not label, the same answers as project_for and require_labeler."""
    user = request.user
    project_table, membership_table = Project._meta.db_table, Membership._meta.db_table
    sql = f"""
        SELECT {columns(Project, "p")},
            EXISTS (SELECT 1 FROM {membership_table} AS m WHERE m.project_id = p.id AND m.user_id = %(user)s)
                AS is_member,
            EXISTS (SELECT 1 FROM {membership_table} AS m
                    WHERE m.project_id = p.id AND m.user_id = %(user)s AND m.role = %(labeler)s) AS is_labeler,
            (SELECT max(v.version) FROM {InstructionVersion._meta.db_table} AS v WHERE v.project_id = p.id)
                AS instructions_version
        FROM {project_table} AS p WHERE p.slug = %(slug)s
    """  # noqa: S608 - table names come from the models, values are parameters
    params = {"user": user.pk, "labeler": Membership.Role.LABELER, "slug": slug}
    project, extra = fetch_instance(Project, sql, params)
    if project is None:
        raise Http404
    is_member, is_labeler, project.instructions_version = extra
    if not (is_member or user.is_staff):
        raise Http404
    if not (is_labeler or user.is_staff):
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


def ranking_payload(ranking) -> dict:
    """RankingOut's fields, built directly (the labeling loop's hot path); a test keeps them equal."""
    return {
        "id": ranking.pk,
        "assignment": ranking.assignment_id,
        "tiers": ranking.tiers,
        "flagged": ranking.flagged,
        "instructions_version": ranking.instruction_version,
        "duration_ms": ranking.duration_ms,
        "submitted_at": ranking.submitted_at,
    }


class SubmitRanking(APIView):
    # RankingIn documents the body; ranking.submission_fields reads it without a serializer's cost.
    @extend_schema(request=RankingIn, responses={201: RankingOut, 200: RankingOut})
    def post(self, request, assignment_id: int):
        fields = submission_fields(request.data)
        ranking, created = submit_ranking(
            assignment_id, request.user, tiers=fields["tiers"], flagged=fields["flagged"],
            duration_ms=fields["duration_ms"], instruction_version=fields["instructions_version"],
        )
        return Response(ranking_payload(ranking), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class SkipAssignment(APIView):
    @extend_schema(request=None, responses={200: dict})
    def post(self, request, assignment_id: int):
        assignment = skip_assignment(assignment_id, request.user)
        return Response({"assignment": assignment.pk, "status": assignment.status})

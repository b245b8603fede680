"""The team over the API (project admins): members and their roles, add, change role, remove,
invite links.

`GET members/` is for admins only, like the team page: researchers work with pseudonyms elsewhere."""

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import Membership
from ..team import LastAdmin, TeamError, add_member, change_role, create_invite, members, remove_member
from .docs import BAD_REQUEST, FIELD_ERRORS_SCHEMA, FORBIDDEN, NOT_FOUND, SLUG
from .permissions import project_for, require_admin


class MemberOut(serializers.Serializer):
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class MemberIn(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class InviteIn(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class InviteOut(serializers.Serializer):
    url = serializers.URLField(help_text="The invite link; shown once (only its hash is stored).")
    expires = serializers.DateTimeField()


def _field_error(exc: TeamError) -> ValidationError:
    return ValidationError({exc.field: [exc.message]})


LAST_ADMIN_MESSAGE = "ada is the project's only admin: they cannot be removed. Make someone else an admin first."
NO_SUCH_USER_MESSAGE = "There is no user named “bert”. Invite them with a link instead."
USERNAME = OpenApiParameter("username", str, OpenApiParameter.PATH, description="The member's username.")


def last_admin(field: str) -> OpenApiResponse:
    return OpenApiResponse(FIELD_ERRORS_SCHEMA, description="Refused: the project would be left without an admin.",
                           examples=[OpenApiExample("Last admin", status_codes=["409"], response_only=True,
                                                    value={field: [LAST_ADMIN_MESSAGE]})])


@extend_schema(tags=["team"], parameters=[SLUG])
class ProjectMembers(APIView):
    @extend_schema(responses={200: MemberOut(many=True), 403: FORBIDDEN, 404: NOT_FOUND},
                   summary="Members, one row per role (admins)",
                   examples=[OpenApiExample("A small team", response_only=True, value=[
                       {"username": "ada", "role": "admin"}, {"username": "alice", "role": "labeler"},
                       {"username": "rita", "role": "researcher"}])])
    def get(self, request, slug: str):
        project = project_for(request, slug)
        require_admin(request, project)
        rows = [{"username": m.username, "role": role} for m in members(project) for role in m.roles]
        return Response(MemberOut(rows, many=True).data)

    @extend_schema(request=MemberIn, responses={201: MemberOut, 400: BAD_REQUEST, 403: FORBIDDEN, 404: NOT_FOUND},
                   summary="Give an existing user a role (admins)",
                   examples=[OpenApiExample("Add", value={"username": "alice", "role": "labeler"}, request_only=True),
                             OpenApiExample("Added", value={"username": "alice", "role": "labeler"},
                                            response_only=True, status_codes=["201"]),
                             OpenApiExample("Unknown user", value={"username": [NO_SUCH_USER_MESSAGE]},
                                            response_only=True, status_codes=["400"])])
    def post(self, request, slug: str):
        project = project_for(request, slug)
        require_admin(request, project)
        body = MemberIn(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            add_member(project, body.validated_data["username"], body.validated_data["role"])
        except TeamError as exc:
            raise _field_error(exc)
        return Response(MemberOut(body.validated_data).data, status=status.HTTP_201_CREATED)


class RoleIn(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices)


@extend_schema(tags=["team"], parameters=[SLUG, USERNAME])
class ProjectMember(APIView):
    def _member(self, project, username: str):
        return get_object_or_404(get_user_model().objects.distinct(), username=username, memberships__project=project)

    @extend_schema(request=RoleIn, responses={200: MemberOut(many=True), 400: BAD_REQUEST, 403: FORBIDDEN,
                                              404: NOT_FOUND, 409: last_admin("role")},
                   summary="Change a member's role: it becomes their only role in the project (admins)",
                   examples=[OpenApiExample("Make a researcher", value={"role": "researcher"}, request_only=True),
                             OpenApiExample("Changed", value=[{"username": "rita", "role": "researcher"}],
                                            response_only=True, status_codes=["200"])])
    def put(self, request, slug: str, username: str):
        project = project_for(request, slug)
        require_admin(request, project)
        user = self._member(project, username)
        body = RoleIn(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            change_role(project, user, body.validated_data["role"])
        except LastAdmin as exc:
            return Response({"role": [exc.message]}, status=status.HTTP_409_CONFLICT)
        return Response(MemberOut([{"username": username, "role": body.validated_data["role"]}], many=True).data)

    @extend_schema(responses={204: OpenApiResponse(description="Removed; their submitted rankings stay."),
                              403: FORBIDDEN, 404: NOT_FOUND, 409: last_admin("username")},
                   summary="Remove a member: all their roles; their reservations go back to the pool (admins)")
    def delete(self, request, slug: str, username: str):
        project = project_for(request, slug)
        require_admin(request, project)
        user = self._member(project, username)
        try:
            remove_member(project, user)
        except LastAdmin as exc:
            return Response({"username": [exc.message]}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["team"], parameters=[SLUG])
class ProjectInvites(APIView):
    @extend_schema(request=InviteIn, responses={201: InviteOut, 400: BAD_REQUEST, 403: FORBIDDEN, 404: NOT_FOUND},
                   summary="Create a single-use invite link, valid 7 days (admins)",
                   examples=[OpenApiExample("Invite a labeler", value={"role": "labeler"}, request_only=True),
                             OpenApiExample("The link", response_only=True, status_codes=["201"],
                                            value={"url": "http://127.0.0.1:8000/invite/Xq3...f9/",
                                                   "expires": "2026-12-09T07:40:00Z"})])
    def post(self, request, slug: str):
        project = project_for(request, slug)
        require_admin(request, project)
        body = InviteIn(data=request.data)
        body.is_valid(raise_exception=True)
        invite, token = create_invite(project, body.validated_data["role"], created_by=request.user)
        url = request.build_absolute_uri(reverse("invite", args=[token]))
        return Response(InviteOut({"url": url, "expires": invite.expires_at}).data, status=status.HTTP_201_CREATED)

"""Domain errors become clear HTTP answers: a bad ranking is a 400 that says what is wrong, a
conflicting resubmission a 409, another labeler's object a 404."""

from django.core.exceptions import ObjectDoesNotExist
from django.http import JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..assignment import AssignmentConflict
from ..ranking import RankingError


def exception_handler(exc, context):
    if isinstance(exc, RankingError):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, AssignmentConflict):
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, ObjectDoesNotExist):
        return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    return drf_exception_handler(exc, context)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    """Django's 404 for a URL no route matches (e.g. /api/exports/-1/): JSON under /api/, as the
    API's other 404s and its schema say, and the usual page elsewhere."""
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """Django's 500 outside DRF's handling: JSON under /api/, the usual page elsewhere."""
    if _is_api(request):
        return JsonResponse({"detail": "Server error."}, status=500)
    return defaults.server_error(request)

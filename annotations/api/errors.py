"""Domain errors become clear HTTP answers: a bad ranking is a 400 that says what is wrong, a
conflicting resubmission a 409, another labeler's object a 404."""

from django.core.exceptions import ObjectDoesNotExist
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

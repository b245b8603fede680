"""JSON request bodies with bounds (PRODUCT, "Operations and limits"): a body over
LABELHUB_MAX_JSON_BYTES answers 413 before it is parsed, JSON nested deeper than
LABELHUB_MAX_JSON_DEPTH answers 400. DRF's own parser reads any size into memory and lets Python's
json module recurse until a RecursionError (a 500)."""

from django.conf import settings
from rest_framework import renderers, status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import BaseParser

from ..jsonlimits import TooLarge, read_bounded_json


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class BoundedJSONParser(BaseParser):
    """JSON with the size bound checked before and while reading and the depth bound after parsing
    (orjson itself stops at 1024 levels, so parsing never recurses deeper than that). Not a subclass
    of DRF's JSONParser on purpose: DRF reads a JSONParser's whole body into memory before parsing."""

    media_type = "application/json"
    renderer_class = renderers.JSONRenderer

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.LABELHUB_MAX_JSON_BYTES
        request = (parser_context or {}).get("request")
        length = request.META.get("CONTENT_LENGTH") if request is not None else None
        try:
            if length and int(length) > limit:
                raise TooLarge(int(length))
            return read_bounded_json(stream, limit, settings.LABELHUB_MAX_JSON_DEPTH)
        except TooLarge as exc:
            raise RequestTooLarge(f"The JSON body is larger than the limit of {limit:,} bytes"
                                  f"{f' ({exc.size:,} bytes sent)' if exc.size else ''}.")
        except ValueError as exc:  # invalid JSON, invalid UTF-8, or JsonTooDeep
            raise ParseError(f"JSON parse error - {exc}")

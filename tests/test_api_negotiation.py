"""The API's remembered content negotiation answers exactly as DRF's own, every time."""

import pytest
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from annotations.api.negotiation import RememberedContentNegotiation


def _request(accept: str | None, query: str = "") -> Request:
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    return Request(APIRequestFactory().get(f"/api/projects/{query}", **headers))


def _outcome(negotiation, request: Request, renderers: list) -> tuple:
    try:
        return negotiation.select_renderer(request, renderers)
    except NotAcceptable:
        return ("406",)


@pytest.mark.parametrize("accept", [
    None, "*/*", "application/json", "text/html", "application/json; indent=4",
    "text/html;q=0.5, application/json", "application/*", "image/png",
])
@pytest.mark.parametrize("query", ["", "?format=json", "?format=api"])
def test_remembered_negotiation_answers_as_drf_does_on_first_and_later_requests(accept, query):
    renderers = [JSONRenderer(), BrowsableAPIRenderer()]
    expected = _outcome(DefaultContentNegotiation(), _request(accept, query), renderers)
    for _ in range(2):  # the first answer is worked out, the second one remembered
        assert _outcome(RememberedContentNegotiation(), _request(accept, query), renderers) == expected


def test_a_media_type_no_renderer_makes_is_still_refused():
    for _ in range(2):
        with pytest.raises(NotAcceptable):
            RememberedContentNegotiation().select_renderer(_request("image/png"), [JSONRenderer()])


def test_the_same_accept_header_gets_the_renderer_of_the_views_own_list():
    RememberedContentNegotiation().select_renderer(_request("text/html"), [JSONRenderer(), BrowsableAPIRenderer()])
    with pytest.raises(NotAcceptable):  # a view that renders only JSON: not the other view's answer
        RememberedContentNegotiation().select_renderer(_request("text/html"), [JSONRenderer()])


def test_a_long_accept_header_is_answered_but_not_kept():
    from annotations.api import negotiation

    accept = "application/json, " + ", ".join(f"x-made-up/type-{i}" for i in range(40))
    renderer, _ = RememberedContentNegotiation().select_renderer(_request(accept), [JSONRenderer()])
    assert isinstance(renderer, JSONRenderer)
    assert not any(key[0] == accept for key in negotiation._remembered)

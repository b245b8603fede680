"""Request bodies are bounded (PRODUCT, "Operations and limits"): a JSON body over
LABELHUB_MAX_JSON_BYTES answers 413, JSON nested deeper than 64 levels answers 400, an oversized form
answers 400; never a 500."""

import io

import orjson
import pytest
from django.test import Client

from annotations.jsonlimits import JsonTooDeep, TooLarge, depth_of, read_bounded_json
from annotations.models import Project

PROJECTS = "/api/projects/"


def nested(depth: int) -> bytes:
    """A JSON object whose field "x" holds lists nested so that the whole body is `depth` deep."""
    return b'{"slug": "deep", "x": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def post_json(client, body: bytes, url: str = PROJECTS):
    return client.post(url, data=body, content_type="application/json")


def test_depth_counts_containers():
    assert depth_of(1) == 0
    assert depth_of([]) == 1
    assert depth_of({"a": [1, {"b": []}]}) == 4
    assert depth_of(orjson.loads(nested(64))) == 64


def test_reading_stops_at_the_limit_whatever_the_declared_length():
    with pytest.raises(TooLarge):
        read_bounded_json(io.BytesIO(b'"' + b"a" * 100 + b'"'), max_bytes=50)
    assert read_bounded_json(io.BytesIO(b'"aaa"'), max_bytes=50) == "aaa"
    with pytest.raises(JsonTooDeep):
        read_bounded_json(io.BytesIO(b"[" * 65 + b"]" * 65), max_bytes=1000)


def test_json_body_over_the_default_limit_answers_413(api, ada):
    body = b'{"slug": "big", "name": "' + b"a" * 1_000_000 + b'"}'
    response = post_json(api(ada), body)
    assert response.status_code == 413
    assert response.json()["detail"] == (
        f"The JSON body is larger than the limit of 1,000,000 bytes ({len(body):,} bytes sent)."
    )
    assert not Project.objects.filter(slug="big").exists()


def test_the_limit_is_a_setting(api, ada, settings):
    settings.LABELHUB_MAX_JSON_BYTES = 100
    assert post_json(api(ada), b'{"slug": "small"}').status_code == 201
    assert post_json(api(ada), b'{"slug": "long", "name": "' + b"n" * 100 + b'"}').status_code == 413


def test_json_nested_deeper_than_64_levels_answers_400(api, ada):
    response = post_json(api(ada), nested(65))
    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - nested deeper than 64 levels"}
    at_the_limit = post_json(api(ada), nested(64))
    assert at_the_limit.status_code == 400, at_the_limit.json()
    assert "nested" not in str(at_the_limit.json())


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_very_deep_json_is_a_400_not_a_500(api, ada, depth):
    response = post_json(api(ada), b"[" * depth + b"]" * depth)
    assert response.status_code == 400
    assert "nested deeper than 64 levels" in response.json()["detail"]


def test_deep_json_on_the_token_endpoint_is_a_400(db):
    response = Client().post("/api/auth/token/", data=b"[" * 10_000 + b"]" * 10_000, content_type="application/json")
    assert response.status_code == 400


def test_invalid_json_is_still_a_plain_400(api, ada):
    response = post_json(api(ada), b'{"slug": ')
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


def test_oversized_form_answers_400(db):
    response = Client().post("/accounts/login/", {"username": "a", "password": "b" * 1_100_000})
    assert response.status_code == 400

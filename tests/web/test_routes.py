"""The Flask routes are the intake: answers, limits and odd paths, with nothing in front of them."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
import redis
from flask import Flask

from bot.settings import Settings
from tests.web.intake_support import all_secrets, auth, fixture, make_app


@pytest.fixture
def app(make_settings: Callable[..., Settings], redis_conn: redis.Redis) -> Flask:
    return make_app(make_settings(webhook_secrets=all_secrets(), max_body_bytes=4096), redis_conn)


def test_webhooks_reach_flask_itself(app: Flask) -> None:
    """No WSGI middleware answers instead of the Blueprint routes."""
    assert app.wsgi_app.__func__ is Flask.wsgi_app  # type: ignore[attr-defined]
    rules = {r.rule: sorted(r.methods - {"OPTIONS"}) for r in app.url_map.iter_rules()}  # type: ignore[operator]
    assert rules["/webhooks/<source>"] == ["POST"]
    assert rules["/webhooks/<source>/<token>"] == ["POST"]


def test_accepted_then_duplicate(app: Flask) -> None:
    body = fixture("generic", "image")
    url, headers = auth("generic", body)
    first = app.test_client().post(url, data=body, headers=headers)
    again = app.test_client().post(url, data=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    delivery = first.get_json()["delivery"]
    assert again.get_json() == {"duplicate": True, "delivery": delivery, "status": "queued"}


def test_a_body_of_exactly_the_limit_is_read_one_byte_more_is_not(app: Flask) -> None:
    client = app.test_client()
    for size, error in ((4096, "unauthorized"), (4097, "too_large")):
        response = client.post("/webhooks/generic", data=b"{" + b" " * (size - 2) + b"}")
        assert response.get_json()["error"] == error, size


def test_oversized_and_unsigned_bodies_are_refused(app: Flask) -> None:
    client = app.test_client()
    big = b'{"image": "a/b", "tag": "1", "x": "' + b"x" * 5000 + b'"}'
    url, headers = auth("generic", big)
    response = client.post(url, data=big, headers=headers)
    assert (response.status_code, response.get_json()["error"]) == (413, "too_large")
    response = client.post("/webhooks/generic", data=b"{}")
    assert (response.status_code, response.get_json()["error"]) == (401, "unauthorized")


def test_chunked_body_over_the_limit_is_413_without_reading_it_all(app: Flask) -> None:
    stream = io.BytesIO(b"{" + b" " * 100_000 + b"}")
    response = app.test_client().post(
        "/webhooks/generic",
        input_stream=stream,
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert (response.status_code, response.get_json()["error"]) == (413, "too_large")
    assert stream.tell() <= 4097


def test_other_methods_and_deeper_paths(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/webhooks/quay").status_code == 405
    assert client.post("/webhooks/quay/a/b").get_json()["error"] == "not_found"
    assert client.post("/webhooks/").get_json()["error"] == "not_found"


def test_non_ascii_path_token_is_compared_not_crashed_on(app: Flask) -> None:
    body = fixture("quay", "repo_push")
    response = app.test_client().post("/webhooks/quay/%C3%A9t%C3%A9", data=body)
    assert (response.status_code, response.get_json()["error"]) == (401, "unauthorized")

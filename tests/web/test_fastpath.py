"""The WSGI fast path for webhook POSTs and the Flask routes behind it answer alike."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask import Flask
from werkzeug.test import Client

from bot.settings import Settings
from tests.web.intake_support import all_secrets, auth, fixture, make_app


@pytest.fixture
def app(make_settings: Callable[..., Settings], redis_conn: redis.Redis) -> Flask:
    return make_app(make_settings(webhook_secrets=all_secrets(), max_body_bytes=4096), redis_conn)


def flask_only(app: Flask) -> Client:
    """A client that skips the fast path: Flask's own wsgi_app, as if no middleware were set."""
    return Client(lambda environ, start_response: Flask.wsgi_app(app, environ, start_response))


def test_both_paths_accept_and_dedupe_the_same_way(app: Flask) -> None:
    body = fixture("generic", "image")
    url, headers = auth("generic", body)
    fast = app.test_client().post(url, data=body, headers=headers)
    slow = flask_only(app).post(url, data=body, headers=headers)
    assert (fast.status_code, slow.status_code) == (202, 200)
    assert slow.get_json() == {"duplicate": True, "delivery": fast.get_json()["delivery"], "status": "queued"}


@pytest.mark.parametrize("client", ["fast", "flask"])
def test_both_paths_refuse_oversized_and_unsigned_bodies(app: Flask, client: str) -> None:
    c: Any = app.test_client() if client == "fast" else flask_only(app)
    big = b'{"image": "a/b", "tag": "1", "x": "' + b"x" * 5000 + b'"}'
    url, headers = auth("generic", big)
    response = c.post(url, data=big, headers=headers)
    assert (response.status_code, response.get_json()["error"]) == (413, "too_large")
    response = c.post("/webhooks/generic", data=b"{}")
    assert (response.status_code, response.get_json()["error"]) == (401, "unauthorized")


def test_chunked_body_over_the_limit_is_413_without_reading_it_all(app: Flask) -> None:
    stream = io.BytesIO(b"{" + b" " * 10_000 + b"}")
    response = app.test_client().post(
        "/webhooks/generic",
        input_stream=stream,
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert stream.tell() <= 4097


def test_other_methods_and_deeper_paths_fall_through_to_flask(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/webhooks/quay").status_code == 405
    assert client.post("/webhooks/quay/a/b").get_json()["error"] == "not_found"
    assert client.post("/webhooks/").get_json()["error"] == "not_found"


def test_non_ascii_path_token_is_compared_not_crashed_on(app: Flask) -> None:
    body = fixture("quay", "repo_push")
    response = app.test_client().post("/webhooks/quay/%C3%A9t%C3%A9", data=body)
    assert (response.status_code, response.get_json()["error"]) == (401, "unauthorized")

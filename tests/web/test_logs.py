"""JSON logs with bound context, and secrets that never reach them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest
import redis

from bot import logs
from bot.settings import Settings
from tests.web.intake_support import SECRET, all_secrets, auth, fixture, make_app


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.RedactFilter(["hunter2-secret"]))
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_bound_context_and_extra_fields_appear_in_each_line(captured: io.StringIO) -> None:
    log = logging.getLogger("test.logs")
    with logs.bind(delivery_id="github-1", source="github"), logs.bind(repo="acme/api"):
        log.info("planned", extra={"group": "prod"})
    log.info("outside")
    inside, outside = lines(captured)
    assert inside["msg"] == "planned"
    assert {k: inside[k] for k in ("delivery_id", "source", "repo", "group")} == {
        "delivery_id": "github-1",
        "source": "github",
        "repo": "acme/api",
        "group": "prod",
    }
    assert "delivery_id" not in outside


@pytest.mark.parametrize(
    "text",
    [
        "using hunter2-secret now",
        "token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
        "clone https://oauth2:glpat-abcdefghijklmnop1234@gitlab.com/a/b.git",
        'config {"password": "p4ss-w0rd-long"}',
        "url?private_token=abcdef123456&x=1",
    ],
)
def test_secrets_and_token_shapes_are_redacted(captured: io.StringIO, text: str) -> None:
    logging.getLogger("test.logs").warning(text, extra={"detail": text})
    (line,) = lines(captured)
    for value in (line["msg"], line["detail"]):
        assert "[redacted]" in str(value)
    for secret in ("hunter2-secret", "ghp_abcdef", "eyJhbGci", "glpat-abc", "p4ss-w0rd", "abcdef123456"):
        assert secret not in captured.getvalue()


def test_ordinary_text_is_untouched() -> None:
    text = "delivery github-72d3 accepted: 2 events for acme/api at 1.4.2"
    assert logs.redact(text) == text


def test_intake_never_logs_path_tokens_or_signatures(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_app(make_settings(webhook_secrets=all_secrets()), redis_conn).test_client()
    body = fixture("quay", "repo_push")
    url, _ = auth("quay", body)
    assert client.post(url, data=body).status_code == 202
    assert client.post("/webhooks/quay/wrong-token-value", data=body).status_code == 401
    err = capsys.readouterr().err
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert {r["msg"] for r in records} >= {"delivery accepted", "delivery refused"}
    assert SECRET not in err
    assert "wrong-token-value" not in err

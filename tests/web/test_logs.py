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


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("clone https://oauth2:glpat-abcdefghijklmnop1234@gitlab.com/a/b.git", "https://gitlab.com/a/b.git"),
        (
            "push to https://x-access-token:s3cr3t-value@git.example.com/o/r.git failed",
            "https://git.example.com/o/r.git failed",
        ),
        (
            "fatal: unable to access 'https://tok3nvalue@host:8443/r.git/?a=b': 403",
            "'https://host:8443/r.git/': 403",
        ),
        ("registry https://robot:pa55word@registry.example.com/v2/", "https://registry.example.com/v2/"),
    ],
)
def test_a_url_carrying_credentials_is_reduced_to_host_and_path(text: str, shown: str) -> None:
    out = logs.redact(text)
    assert out.endswith(shown)
    assert "@" not in out


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ('{"auths": {"registry.example.com": {"auth": "cm9ib3Q6cGE1NXdvcmQ="}}}', "cm9ib3Q6cGE1NXdvcmQ="),
        ('{"identitytoken": "eyJraWQiOiJhIn0-not-a-jwt-but-secret"}', "not-a-jwt-but-secret"),
        ("AWS key AKIAIOSFODNN7EXAMPLE in use", "AKIAIOSFODNN7EXAMPLE"),
        ("jwt eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxMjMifQ.c2lnbmF0dXJlLXZhbHVl sent", "c2lnbmF0dXJlLXZhbHVl"),
        ("gitlab glrt-abcdefghijklmnop1234 runner", "glrt-abcdefghijklmnop1234"),
    ],
)
def test_registry_and_other_credential_shapes_are_redacted(text: str, secret: str) -> None:
    assert secret not in logs.redact(text)


def test_registered_secrets_and_every_line_of_a_pem_key_are_masked() -> None:
    body = ["MIIEowIBAAKCAQEAq1b2c3d4e5f6g7h8", "i9j0k1l2m3n4o5p6q7r8s9t0u1v2w3x4"]
    key = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(body) + "\n-----END RSA PRIVATE KEY-----\n"
    redactor = logs.RedactFilter([key, "s3cret-webhook-value"])
    for text in ("hook s3cret-webhook-value", f"a key line {body[1]} leaked", key):
        assert redactor.redact(text).count("[redacted]") >= 1
        assert "s3cret-webhook" not in redactor.redact(text)
        assert body[1] not in redactor.redact(text)


def test_registered_server_directories_become_relative() -> None:
    redactor = logs.RedactFilter()
    redactor.add_paths(["/srv/manifest-bot/git", "/etc/manifest-bot/"])
    text = "no file /srv/manifest-bot/git/acme/deploy.git/envs/x.yaml; config /etc/manifest-bot/routing.yaml"
    assert redactor.redact(text) == "no file acme/deploy.git/envs/x.yaml; config routing.yaml"


def test_the_settings_secret_values_are_all_found() -> None:
    settings = Settings(
        webhook_secrets={"github": ("hook-one", "hook-two")},  # type: ignore[dict-item]
        github_token="ghp_token_value",  # type: ignore[arg-type]
        status_token="status-token-value",  # type: ignore[arg-type]
    )
    assert set(logs.secret_values(settings)) == {
        "hook-one",
        "hook-two",
        "ghp_token_value",
        "status-token-value",
    }


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

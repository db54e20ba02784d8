"""POST /webhooks/<source> end to end on the real Redis: signed delivery → 202 → stream entry."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from bot import sources
from bot.deps import Container
from bot.settings import Settings
from bot.store.deliveries import DeliveryStore
from tests.engine_support import consume
from tests.web.intake_support import POSITIVE, SECRET, all_secrets, auth, fixture, make_app

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "config" / "example.yaml"


@pytest.fixture
def app_settings(make_settings: Callable[..., Settings], redis_conn: redis.Redis) -> Settings:
    return make_settings(webhook_secrets=all_secrets())


@pytest.mark.parametrize("source", sources.NAMES)
def test_signed_delivery_is_recorded_and_queued(
    source: str, app_settings: Settings, redis_conn: redis.Redis
) -> None:
    name, headers, count = POSITIVE[source]
    body = fixture(source, name)
    url, auth_headers = auth(source, body)
    client = make_app(app_settings, redis_conn).test_client()

    response = client.post(
        url, data=body, headers={"Content-Type": "application/json", **headers, **auth_headers}
    )

    assert response.status_code == 202, response.json
    assert response.json["accepted"] == count
    delivery_id = response.json["delivery"]
    assert delivery_id.startswith(f"{source}-")
    store = DeliveryStore(redis_conn, app_settings)
    record = store.record(delivery_id)
    assert record is not None and record.status == "queued"
    (entry,) = store.stream.read("test", count=10, block_ms=None)
    assert entry.ref == record.ref
    stored = store.get(record.ref)
    assert stored is not None
    assert stored.events == sources.get(source).parse(sources.normalise_headers(headers.items()), body).events


def test_github_delivery_id_comes_from_the_header(app_settings: Settings, redis_conn: redis.Redis) -> None:
    body = fixture("github", "push")
    guid = str(uuid.uuid4())
    url, headers = auth("github", body)
    client = make_app(app_settings, redis_conn).test_client()
    response = client.post(
        url, data=body, headers={**headers, "X-GitHub-Event": "push", "X-GitHub-Delivery": guid}
    )
    assert response.status_code == 202
    assert response.json == {"accepted": 1, "delivery": f"github-{guid}"}


def test_ignored_event_answers_202_with_the_reason_and_queues_nothing(
    app_settings: Settings, redis_conn: redis.Redis
) -> None:
    body = fixture("github", "ping")
    url, headers = auth("github", body)
    client = make_app(app_settings, redis_conn).test_client()
    response = client.post(url, data=body, headers={**headers, "X-GitHub-Event": "ping"})
    assert response.status_code == 202
    assert response.json["ignored"] == "ping"
    assert DeliveryStore(redis_conn, app_settings).stream.stats().length == 0
    (record,) = DeliveryStore(redis_conn, app_settings).recent(5)
    assert (record.status, record.reason) == ("ignored", "ping")


def test_wrong_signature_is_401_json_and_writes_nothing(
    app_settings: Settings, redis_conn: redis.Redis
) -> None:
    body = fixture("generic", "image")
    url, headers = auth("generic", body, secret="not-the-secret")
    client = make_app(app_settings, redis_conn).test_client()
    response = client.post(url, data=body, headers=headers)
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"
    assert list(redis_conn.scan_iter(match=f"{app_settings.redis_prefix}:*")) == []


def test_wrong_path_token_is_401(app_settings: Settings, redis_conn: redis.Redis) -> None:
    client = make_app(app_settings, redis_conn).test_client()
    response = client.post("/webhooks/quay/guess", data=fixture("quay", "repo_push"))
    assert response.status_code == 401
    assert SECRET not in response.get_data(as_text=True)


def test_source_without_secret_refuses_unless_allowed_unsigned(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    body = fixture("dockerhub", "push")
    strict = make_app(make_settings(), redis_conn).test_client()
    assert strict.post("/webhooks/dockerhub", data=body).status_code == 401
    relaxed = make_app(make_settings(allow_unsigned=frozenset({"dockerhub"})), redis_conn).test_client()
    response = relaxed.post("/webhooks/dockerhub", data=body)
    assert response.status_code == 202
    assert response.json["accepted"] == 1


def test_body_over_the_limit_is_413(make_settings: Callable[..., Settings], redis_conn: redis.Redis) -> None:
    settings = make_settings(webhook_secrets=all_secrets())
    client = make_app(settings, redis_conn).test_client()
    body = b'{"image": "ghcr.io/a/b", "tag": "1", "pad": "' + b"x" * (1024 * 1024) + b'"}'
    url, headers = auth("generic", body)
    response = client.post(url, data=body, headers=headers)
    assert response.status_code == 413
    assert response.json["error"] == "too_large"


def test_non_json_and_wrong_content_type_are_400(app_settings: Settings, redis_conn: redis.Redis) -> None:
    client = make_app(app_settings, redis_conn).test_client()
    body = b"payload=%7B%7D"
    url, headers = auth("generic", body)
    response = client.post(
        url, data=body, headers={**headers, "Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 400
    assert "not JSON" in response.json["reason"]
    body = b"{not json"
    url, headers = auth("generic", body)
    response = client.post(url, data=body, headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json["reason"]


def test_unknown_source_404_wrong_method_405_unknown_path_404(
    app_settings: Settings, redis_conn: redis.Redis
) -> None:
    client = make_app(app_settings, redis_conn).test_client()
    response = client.post("/webhooks/bitbucket", data=b"{}")
    assert response.status_code == 404
    assert "bitbucket" in response.json["reason"]
    response = client.get("/webhooks/github")
    assert response.status_code == 405
    assert response.json["error"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]
    assert client.get("/nowhere").json["error"] == "not_found"


def test_redis_down_answers_503_json(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(redis_url="redis://127.0.0.1:1/0", webhook_secrets=all_secrets())
    client = make_app(settings).test_client()
    for source in ("generic", "github"):
        name, extra, _ = POSITIVE[source]
        body = fixture(source, name)
        url, headers = auth(source, body)
        response = client.post(url, data=body, headers={**extra, **headers})
        assert response.status_code == 503
        assert response.json["error"] == "unavailable"
        assert response.headers["Retry-After"]
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_health_ready_and_metrics(app_settings: Settings, redis_conn: redis.Redis) -> None:
    client = make_app(app_settings, redis_conn).test_client()
    body = fixture("generic", "image")
    url, headers = auth("generic", body)
    client.post(url, data=body, headers=headers)
    assert client.get("/healthz").json == {"ok": True}
    assert client.get("/readyz").json == {"ready": True}
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    text = metrics.get_data(as_text=True)
    assert 'manifest_bot_deliveries_total{outcome="accepted",source="generic"}' in text
    assert 'manifest_bot_queue_depth{queue="deliveries"} 1.0' in text


def test_responses_are_json_everywhere(app_settings: Settings, redis_conn: redis.Redis) -> None:
    client = make_app(app_settings, redis_conn).test_client()
    for response in (
        client.post("/webhooks/nope"),
        client.put("/webhooks/github"),
        client.post("/webhooks/github", data=b"{}"),
        client.get("/healthz"),
    ):
        assert response.mimetype == "application/json"
        json.loads(response.get_data())


def test_end_to_end_with_the_real_job_then_redelivery_is_a_duplicate(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    settings = make_settings(webhook_secrets=all_secrets(), config_path=EXAMPLE_CONFIG)
    container = Container(settings)
    container.__dict__["redis"] = redis_conn
    client = make_app(settings, redis_conn).test_client()
    body = b'{"image": "ghcr.io/nobody/unrouted", "tag": "1.0.0"}'
    url, headers = auth("generic", body)
    first = client.post(url, data=body, headers=headers)
    assert first.status_code == 202
    assert consume(container).handled == 1
    record = container.deliveries.record(first.json["delivery"])
    assert record is not None and record.status == "processed"
    again = client.post(url, data=body, headers=headers)
    assert (again.status_code, again.json["duplicate"], again.json["status"]) == (200, True, "processed")
    assert container.deliveries.backlog() == 0


def test_a_401_never_says_which_sources_are_configured_or_what_failed(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    """Half the sources have a secret, half none; wrong, missing and malformed credentials all
    get the very same answer (issue #12: a 401 said which sources were configured)."""
    configured = {name: [SECRET] for name in sources.NAMES[::2]}
    client = make_app(make_settings(webhook_secrets=configured), redis_conn).test_client()
    answers = set()
    for source in sources.NAMES:
        name, extra, _ = POSITIVE[source]
        body = fixture(source, name)
        url, headers = auth(source, body, secret="a-wrong-guess")
        bare = f"/webhooks/{source}"
        malformed = {**extra, "X-Hub-Signature-256": "x"}
        for where, tried in ((url, {**extra, **headers}), (bare, extra), (url, malformed)):
            response = client.post(where, data=body, headers=tried)
            assert response.status_code == 401, (source, response.json)
            answers.add(response.get_data(as_text=True))
    assert len(answers) == 1, answers
    (answer,) = answers
    assert not any(f"'{name}'" in answer or f" {name} " in answer for name in sources.NAMES)


@pytest.mark.parametrize(
    "content_type", ["APPLICATION/JSON", "Application/Json; charset=UTF-8", "Text/Plain"]
)
def test_content_types_are_compared_case_insensitively(
    app_settings: Settings, redis_conn: redis.Redis, content_type: str
) -> None:
    client = make_app(app_settings, redis_conn).test_client()
    body = fixture("generic", "image")
    url, headers = auth("generic", body)
    response = client.post(url, data=body, headers={**headers, "Content-Type": content_type})
    assert response.status_code == 202, response.json

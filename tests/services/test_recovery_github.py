"""Missed GitHub App webhooks: the periodic recovery lists the App's deliveries with its JWT (cursor
paging), asks GitHub to redeliver the failed ones we have no record of, and the redelivery is
processed; bounded per run and looking only at what is new. GitHub is ``responses`` shaped as its
OpenAPI description (``hook-delivery-item``, ``202 Accepted``; tests/contracts checks them)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import redis
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient
from responses import matchers

from bot.app import create_app
from bot.core.intents import UpdateIntent
from bot.deps import Container
from bot.jobs import runtime
from bot.jobs.periodic import run_task
from bot.settings import Settings
from bot.store.recovery import RecoveryStore
from tests.engine_support import consume
from tests.web.conftest import status_app
from tests.web.intake_support import hub_signature

API = "https://api.github.com:443"  # PyGithub names the port in every URL it requests
DELIVERIES = f"{API}/app/hook/deliveries"
SECRET = "gh-secret"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks" / "github"
GROUP = "gh:octo-org/manifests:main:dev"
FAKE = {"X-Fake": "github"}  # tests/contracts validates these answers against GitHub's schema


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return pem, key.public_key()


def _config() -> dict[str, Any]:
    target = {"forge": "gh", "repo": "octo-org/manifests", "environment": "dev", "files": ["a.yaml"]}
    return {
        "version": 1,
        "forges": [
            {"name": "gh", "kind": "github", "app_id": 42, "private_key": "setting:github_private_key"}
        ],
        "rules": [{"name": "web", "image": "ghcr.io/octo-org/web", "targets": [target]}],
    }


@pytest.fixture
def container(
    make_settings: Callable[..., Settings], redis_conn: redis.Redis, tmp_path: Path, key_pair: tuple[str, Any]
) -> Iterator[Container]:
    path = tmp_path / "routing.yaml"
    path.write_text(json.dumps(_config()))
    settings = make_settings(
        config_path=path,
        github_app_id=42,
        github_private_key=key_pair[0],
        webhook_secrets={"github": (SECRET,)},
        recovery_max_pages=2,
        recovery_max_redeliveries=5,
    )
    built = Container(settings)
    built.__dict__["redis"] = redis_conn
    runtime.install(built)
    yield built
    runtime.install(None)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def item(
    ident: int, guid: str, *, status_code: int = 202, event: str = "push", ago_s: float = 60
) -> dict[str, Any]:
    """A ``hook-delivery-item`` as GitHub's docs show it."""
    when = datetime.fromtimestamp(time.time() - ago_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": ident,
        "guid": guid,
        "delivered_at": when,
        "redelivery": False,
        "duration": 0.27,
        "status": "OK" if 200 <= status_code < 400 else ("timed out" if status_code == 0 else "Bad gateway"),
        "status_code": status_code,
        "event": event,
        "action": None,
        "installation_id": 123,
        "repository_id": 456,
        "throttled_at": None,
    }


def _page(
    rsps: responses.RequestsMock, items: list[dict[str, Any]], cursor: str | None, nxt: str | None
) -> None:
    params = {"per_page": "100", **({"cursor": cursor} if cursor else {})}
    headers = dict(FAKE)
    if nxt:
        headers["Link"] = f'<{DELIVERIES}?per_page=100&cursor={nxt}>; rel="next"'
    rsps.get(DELIVERIES, json=items, headers=headers, match=[matchers.query_param_matcher(params)])


def _sent(rsps: responses.RequestsMock, method: str) -> list[Any]:
    return [c.request for c in rsps.calls if c.request.method == method]


def _push_body() -> bytes:
    return (FIXTURES / "push.json").read_bytes()


def _deliver(client: FlaskClient, guid: str, body: bytes) -> int:
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": guid,
        "X-Hub-Signature-256": hub_signature(body, SECRET),
        "Content-Type": "application/json",
    }
    return client.post("/webhooks/github", data=body, headers=headers).status_code


def _clean_group(container: Container) -> None:
    """A group on octo-org/manifests@main, reconciled (nothing to do)."""
    intent = UpdateIntent(
        forge="gh",
        repo="octo-org/manifests",
        base_branch="main",
        group="dev",
        environment="dev",
        files=("a.yaml",),
        image="ghcr.io/octo-org/web",
        tag="1.0.0",
        digest=None,
        ordering_scheme="semver",
        ordering_key=(1, 0, 0),
    )
    container.intents.merge([intent])
    container.intents.mark_applied(GROUP, 1)


def test_a_push_github_failed_to_deliver_is_redelivered_and_processed(
    container: Container, rsps: responses.RequestsMock, key_pair: tuple[str, Any]
) -> None:
    _clean_group(container)
    client = create_app(container=container).test_client()
    body = _push_body()
    assert _deliver(client, "seen-guid", body) == 202  # reached us
    _page(
        rsps,
        [
            item(1003, "lost-guid", status_code=503),  # we answered 503 (Redis was full): no record
            item(1002, "seen-guid", status_code=0),  # GitHub timed out, but we have it
            item(1001, "fine-guid"),
        ],
        None,
        "c2",
    )
    _page(rsps, [item(1000, "old-lost", status_code=502)], "c2", None)

    def redeliver(request: Any) -> tuple[int, dict[str, str], str]:
        assert _deliver(client, "lost-guid", body) == 202  # GitHub sends the event again
        return 202, FAKE, "{}"

    rsps.add_callback(responses.POST, f"{DELIVERIES}/1003/attempts", callback=redeliver)
    rsps.add(responses.POST, f"{DELIVERIES}/1000/attempts", json={}, status=202, headers=FAKE)

    result = run_task("webhook-recovery")

    assert result["github_redelivered"] == 2 and result["github_known"] == 1
    asked = sorted(urlsplit(r.url).path for r in _sent(rsps, "POST"))
    assert asked == ["/app/hook/deliveries/1000/attempts", "/app/hook/deliveries/1003/attempts"]
    for request in rsps.calls:  # every request is the App's, signed with its key
        token = request.request.headers["Authorization"].removeprefix("Bearer ")
        assert jwt.decode(token, key_pair[1], algorithms=["RS256"])["iss"] == "42"
    record = container.deliveries.record("github-lost-guid")
    assert record is not None and record.status == "queued"

    consume(container)

    assert container.deliveries.record("github-lost-guid").status == "processed"  # type: ignore[union-attr]
    assert container.intents.dirty(GROUP)  # the missed push: the group observes its base again
    assert container.dispatch.reconcile_state(GROUP) == "queued"
    last = json.loads(container.redis.get(container.settings.key("periodic", "last", "webhook-recovery")))
    assert last["outcome"] == "ok" and last["result"]["github_redelivered"] == 2
    page = status_app(container.settings, container.redis).test_client().get("/").get_data(as_text=True)
    row = page[page.index('data-scope="App deliveries"') :].split("</tr>")[0]
    assert ">redelivered<" in row and "redelivered 2" in row and "already received 1" in row


def test_the_next_run_reads_only_what_is_new(container: Container, rsps: responses.RequestsMock) -> None:
    _page(rsps, [item(2001, "a", status_code=500), item(2000, "b")], None, None)
    rsps.add(responses.POST, f"{DELIVERIES}/2001/attempts", json={}, status=202, headers=FAKE)
    run_task("webhook-recovery")
    rsps.reset()

    # the redelivery failed too (we were still down), and one new event arrived since
    _page(
        rsps,
        [
            item(2003, "c"),
            {**item(2002, "a", status_code=500), "redelivery": True},
            item(2001, "a", status_code=500),
        ],
        None,
        None,
    )
    rsps.add(responses.POST, f"{DELIVERIES}/2002/attempts", json={}, status=202, headers=FAKE)
    result = run_task("webhook-recovery")

    assert (result["github_pages"], result["github_scanned"], result["github_redelivered"]) == (1, 2, 1)
    assert [urlsplit(r.url).path for r in _sent(rsps, "POST")] == ["/app/hook/deliveries/2002/attempts"]


def test_a_long_history_is_read_a_few_pages_a_run_and_resumed(
    container: Container, rsps: responses.RequestsMock
) -> None:
    pages = [[item(3000 - 10 * k - j, f"g{k}-{j}", status_code=500) for j in range(2)] for k in range(4)]
    for k, items in enumerate(pages):
        _page(rsps, items, f"c{k}" if k else None, f"c{k + 1}" if k < 3 else None)
    for ident in [i["id"] for p in pages for i in p]:
        rsps.add(responses.POST, f"{DELIVERIES}/{ident}/attempts", json={}, status=202, headers=FAKE)

    first = run_task("webhook-recovery")
    second = run_task("webhook-recovery")

    assert (first["github_pages"], first["github_scanned"]) == (2, 4)  # MAX_PAGES=2
    assert (second["github_pages"], second["github_scanned"]) == (2, 4)  # resumed at c2
    assert first["github_redelivered"] == 4 and second["github_redelivered"] == 4
    cursors = [
        parse_qs(urlsplit(c.request.url).query).get("cursor") for c in rsps.calls if c.request.method == "GET"
    ]
    assert cursors == [None, ["c1"], ["c2"], ["c3"]]
    assert RecoveryStore(container.redis, container.settings).scan_state("gh").mark == 3000


def test_redeliveries_per_run_are_bounded_and_the_rest_waits(
    container: Container, rsps: responses.RequestsMock
) -> None:
    _page(rsps, [item(4100 - k, f"e{k}", status_code=500) for k in range(8)], None, None)
    for k in range(8):
        rsps.add(responses.POST, f"{DELIVERIES}/{4100 - k}/attempts", json={}, status=202, headers=FAKE)
    first = run_task("webhook-recovery")
    rsps.replace(responses.GET, DELIVERIES, json=[], headers=FAKE)  # nothing new meanwhile
    second = run_task("webhook-recovery")
    assert (first["github_redelivered"], second["github_redelivered"]) == (5, 3)
    asked = [int(urlsplit(r.url).path.split("/")[-2]) for r in _sent(rsps, "POST")]
    assert asked == sorted(asked) and len(set(asked)) == 8  # oldest first, each once


def test_old_deliveries_are_left_and_an_event_is_given_up_after_its_attempts(
    container: Container, rsps: responses.RequestsMock
) -> None:
    day = container.settings.recovery_max_age_s
    _page(
        rsps,
        [item(5001, "again", status_code=500), item(5000, "ancient", status_code=500, ago_s=day + 60)],
        None,
        None,
    )
    rsps.add(responses.POST, f"{DELIVERIES}/5001/attempts", json={}, status=202, headers=FAKE)
    store = RecoveryStore(container.redis, container.settings)
    for _ in range(3):
        store.count_ask("gh", "again", 3600)  # asked three times already
    result = run_task("webhook-recovery")
    assert (result["github_scanned"], result["github_gave_up"], result["github_redelivered"]) == (1, 1, 0)
    assert _sent(rsps, "POST") == []


def test_a_refused_redelivery_is_counted_and_not_asked_again(
    container: Container, rsps: responses.RequestsMock
) -> None:
    _page(rsps, [item(6000, "x", status_code=500)], None, None)
    error = {"message": "Validation Failed", "documentation_url": "https://docs.github.com/rest"}
    rsps.add(responses.POST, f"{DELIVERIES}/6000/attempts", json=error, status=422, headers=FAKE)
    result = run_task("webhook-recovery")
    assert (result["github_errors"], result["github_redelivered"]) == (1, 0)
    assert RecoveryStore(container.redis, container.settings).todo("gh", 10) == []


def test_a_github_forge_on_a_token_has_no_app_deliveries_to_read(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    config = {**_config(), "forges": [{"name": "gh", "kind": "github", "token": "setting:github_token"}]}
    path = tmp_path / "routing.yaml"
    path.write_text(json.dumps(config))
    assert Container(make_settings(config_path=path, github_token="ghp_x")).app_hook_deliveries() == {}
    assert Container(make_settings(config_path=path)).app_hook_deliveries() == {}  # no credentials at all

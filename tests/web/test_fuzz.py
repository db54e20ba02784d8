"""Whatever a sender sends, the answer is JSON and never a 500 (hypothesis)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import sources
from bot.settings import Settings
from tests.web.intake_support import FIXTURES, make_app

FIXTURE_FILES = sorted(Path(FIXTURES).glob("*/*.json"))
HEADER_NAMES = [
    "Content-Type", "X-GitHub-Event", "X-GitHub-Delivery", "X-Hub-Signature-256", "X-Hub-Signature",
    "X-Gitlab-Event", "X-Gitlab-Token", "X-Gitlab-Event-UUID", "Authorization", "ce-id", "ce-type",
    "X-Manifest-Bot-Signature-256", "X-Manifest-Bot-Token", "X-JFrog-Event-Auth", "X-Manifest-Bot-Delivery",
]  # fmt: skip
GITHUB_EVENTS = [
    "workflow_run",
    "check_suite",
    "push",
    "issue_comment",
    "pull_request",
    "installation",
    "ping",
]
GITLAB_EVENTS = ["Pipeline Hook", "Push Hook", "Note Hook", "Merge Request Hook"]
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@st.composite
def mutated_fixture(draw: st.DrawFn, path: Path | None = None) -> bytes:
    """A recorded payload with some fields (top level or one level down) replaced by junk."""
    body: Any = json.loads((path or draw(st.sampled_from(FIXTURE_FILES))).read_bytes())
    targets = [body] if isinstance(body, dict) else [b for b in body if isinstance(b, dict)]
    for target in targets:
        targets.extend(v for v in list(target.values()) if isinstance(v, dict))
        break
    for target in targets:
        if target and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(target)))
            target[key] = draw(json_values)
    return json.dumps(body).encode()


bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated_fixture(),
)
headers = st.dictionaries(st.sampled_from(HEADER_NAMES), header_text, max_size=5).flatmap(
    lambda h: st.fixed_dictionaries(
        {},
        optional={
            "X-GitHub-Event": st.sampled_from(GITHUB_EVENTS),
            "X-Gitlab-Event": st.sampled_from(GITLAB_EVENTS),
            "Content-Type": st.sampled_from(
                ["application/json", "application/cloudevents+json", "text/html"]
            ),
        },
    ).map(lambda extra: {**h, **extra})
)
paths = st.one_of(
    st.sampled_from(sources.NAMES).map(lambda s: f"/webhooks/{s}"),
    st.tuples(st.sampled_from(sources.NAMES), st.from_regex(r"[A-Za-z0-9_.~-]{1,20}", fullmatch=True)).map(
        lambda t: f"/webhooks/{t[0]}/{t[1]}"
    ),
    st.from_regex(r"/webhooks/[a-z%0-9]{1,12}", fullmatch=True),
)


@st.composite
def matched(draw: st.DrawFn) -> tuple[str, bytes, dict[str, str]]:
    """A (possibly mutated) recorded payload sent to its own source, with plausible headers."""
    path = draw(st.sampled_from(FIXTURE_FILES))
    source = path.parent.name
    extra = {"github": {"X-GitHub-Event": draw(st.sampled_from(GITHUB_EVENTS))}}.get(source, {})
    if source == "gitlab":
        extra = {"X-Gitlab-Event": draw(st.sampled_from(GITLAB_EVENTS))}
    return f"/webhooks/{source}", draw(mutated_fixture(path)), {**draw(headers), **extra}


@pytest.fixture
def unsigned_client(make_settings: Callable[..., Settings], redis_conn: redis.Redis) -> Any:
    """Every source open without a secret, so random bodies reach the parsers."""
    app = make_app(make_settings(allow_unsigned=frozenset(sources.NAMES)), redis_conn)
    return app.test_client()


@pytest.fixture
def signed_client(make_settings: Callable[..., Settings], redis_conn: redis.Redis) -> Any:
    secrets = {name: ["fuzz-secret"] for name in sources.NAMES}
    return make_app(make_settings(webhook_secrets=secrets), redis_conn).test_client()


FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(delivery=st.one_of(st.tuples(paths, bodies, headers), matched(), matched()))
def test_random_deliveries_never_500_and_always_json(
    unsigned_client: Any, delivery: tuple[str, bytes, dict[str, str]]
) -> None:
    path, body, request_headers = delivery
    response = unsigned_client.post(path, data=body, headers=request_headers)
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    payload = response.get_json()
    assert isinstance(payload, dict)
    if response.status_code >= 400:
        assert payload["reason"]


@FUZZ
@given(
    path=paths, body=bodies, request_headers=headers, method=st.sampled_from(["GET", "PUT", "DELETE", "POST"])
)
def test_random_requests_to_signed_sources_are_refused_cleanly(
    signed_client: Any, path: str, body: bytes, request_headers: dict[str, str], method: str
) -> None:
    response = signed_client.open(path, method=method, data=body, headers=request_headers)
    assert response.status_code in (401, 404, 405)
    assert response.get_json()["error"]

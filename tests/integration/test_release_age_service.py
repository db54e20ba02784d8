"""``policy.min_release_age`` through the running service (issue 25 item 2): the web app on a real
port, a ``manifest-bot worker`` process, Redis, a local git manifest repo and a CNCF Distribution
registry. A pushed tag built less than the minimum age ago waits — the status page and
``/api/groups`` say until when — and its PR opens once it is old enough, not before; a tag built
long enough ago opens its PR at once."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import UTC, datetime

import pytest
import requests

from bot.core.release_age import shown
from bot.demo import payloads
from tests.integration.test_registry_e2e import SECRETS, Stack, post, stack
from tests.integration.world import wait_for
from tests.registry.support import run_registry

__all__ = ["stack"]
pytestmark = pytest.mark.slow
DAY = 86_400


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def api_groups(stack: Stack) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{stack.base_url}/api/groups", timeout=10) as resp:
        body = json.loads(resp.read())
    return body["groups"] if isinstance(body, dict) else body


def test_a_tag_younger_than_the_minimum_age_waits_until_it_is_old_enough(stack: Stack) -> None:

    with run_registry(stack.root / "registry") as registry, requests.Session() as session:
        stack.registry = registry
        stack.write_world(f"    image: {stack.image}\n    policy: {{min_release_age: 3d}}\n")
        built = int(time.time()) - 3 * DAY + 12  # old enough twelve seconds from now
        eligible = built + 3 * DAY
        registry.put("acme/app", ["1.1.0"], session=session, created=iso(built))
        stack.start_workers()

        post(stack, payloads.generic_push(SECRETS["generic"], stack.image, "1.1.0"))

        line = f"waiting for {stack.image}:1.1.0 until {shown(eligible)}"
        wait_for(lambda: line in stack.status_page(), 30, "the page to say until when it waits", stack.logs)
        assert time.time() < eligible and stack.pr_file() is None
        (group,) = api_groups(stack)
        assert any(str(w).startswith(line) for w in group["waiting"]), group  # type: ignore[union-attr]

        wait_for(
            lambda: f"{stack.image}:1.1.0" in (stack.pr_file() or ""),
            60,
            "the PR once old enough",
            stack.logs,
        )
        assert time.time() >= eligible
        assert line not in stack.status_page()


def test_a_tag_built_long_enough_ago_opens_its_pr_at_once(stack: Stack) -> None:

    with run_registry(stack.root / "registry") as registry, requests.Session() as session:
        stack.registry = registry
        stack.write_world(f"    image: {stack.image}\n    policy: {{min_release_age: 3d}}\n")
        registry.put("acme/app", ["1.1.0"], session=session, created=iso(time.time() - 4 * DAY))
        stack.start_workers()

        post(stack, payloads.generic_push(SECRETS["generic"], stack.image, "1.1.0"))

        wait_for(lambda: f"{stack.image}:1.1.0" in (stack.pr_file() or ""), 60, "the PR", stack.logs)

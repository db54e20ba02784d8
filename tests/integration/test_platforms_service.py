"""``policy.platforms`` through the running service (issue 25 item 6): the web app on a real port,
a ``manifest-bot worker`` process, Redis, a local git manifest repo and a CNCF Distribution
registry. A pushed tag whose image index lacks a required platform is not written and the group
says what it has and what is missing; a tag whose index lists every platform opens the PR."""

from __future__ import annotations

import pytest
import requests

from bot.demo import payloads
from tests.integration.test_registry_e2e import SECRETS, Stack, post, stack
from tests.integration.world import wait_for
from tests.registry.support import LocalRegistry, run_registry

__all__ = ["stack"]
pytestmark = pytest.mark.slow


def index(registry: LocalRegistry, session: requests.Session, tag: str, *platforms: str) -> None:
    images = {
        p: registry.put("acme/app", [], session=session, platform=tuple(p.split("/")))  # type: ignore[arg-type]
        for p in platforms
    }
    registry.put_index("acme/app", tag, images, session=session)


def test_only_a_tag_built_for_every_platform_is_written(stack: Stack) -> None:
    with run_registry(stack.root / "registry") as registry, requests.Session() as session:
        stack.registry = registry
        stack.write_world(
            f"    image: {stack.image}\n    policy: {{platforms: [linux/amd64, linux/arm64]}}\n"
        )
        index(registry, session, "1.1.0", "linux/amd64")
        index(registry, session, "1.2.0", "linux/amd64", "linux/arm64")
        stack.start_workers()

        post(stack, payloads.generic_push(SECRETS["generic"], stack.image, "1.1.0"))
        said = f"{stack.image}:1.1.0 is built for linux/amd64: policy.platforms also needs linux/arm64"
        wait_for(lambda: said in stack.status_page(), 30, "the group to say what is missing", stack.logs)
        assert stack.pr_file() is None

        post(stack, payloads.generic_push(SECRETS["generic"], stack.image, "1.2.0"))
        wait_for(lambda: f"{stack.image}:1.2.0" in (stack.pr_file() or ""), 30, "the PR", stack.logs)

"""One owner per target on the running service (web + worker process + Redis + local git forge):
two rules reaching one reference — a discovering glob rule and a rule listing the file with a
narrower policy — leave the branch at the highest version the policies allow, and the PR table
lists the reference once (issue 21, item 1)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bot.settings import Settings
from tests.integration.service_fixture import IMAGE, REPO, Service, start_service

pytestmark = pytest.mark.slow


def routing(root: Path) -> str:
    return f"""\
forges:
  - {{name: local, kind: local, path: "{root}"}}
environments: {{dev: {{}}}}
defaults: {{policy: {{verify: false}}}}  # the image lives in no registry here
rules:
  - name: shop-images
    image_glob: "registry.example.com/shop/*"
    targets: [{{forge: local, repo: {REPO}, environment: dev, discover: {{include: ["envs/dev/**"]}}}}]
  - name: api-stable
    image: {IMAGE}
    policy: {{semver: "~1.1"}}
    targets: [{{forge: local, repo: {REPO}, environment: dev, files: [envs/dev/api.yaml]}}]
"""


@pytest.fixture
def service(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> Iterator[Service]:
    yield from start_service(tmp_path, make_settings, redis_conn, routing)


def test_overlapping_rules_write_the_highest_version_once(service: Service) -> None:
    service.push(IMAGE, "1.1.5")  # both rules take it
    service.wait_settled()
    service.push(IMAGE, "1.2.0")  # only the glob rule's policy allows it
    service.wait_settled()
    [pr] = service.prs()
    text = service.forge.read_file(REPO, "envs/dev/api.yaml", pr.head_branch).decode()
    assert f"image: {IMAGE}:1.2.0" in text
    rows = [line for line in pr.body.splitlines() if line.startswith("|") and "envs/dev/api.yaml" in line]
    assert len(rows) == 1, pr.body
    assert "1.0.0" in rows[0] and "1.2.0" in rows[0]
    assert pr.title == "chore(dev): bump api to 1.2.0"  # the image once, at what the branch holds

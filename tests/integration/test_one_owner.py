"""One owner per target on the running service (web + worker process + Redis + local git forge):
two rules reaching one reference — a discovering glob rule and a rule listing the file with a
narrower policy — leave the branch at the highest version the policies allow, and the PR table
lists the reference once (issue 21, item 1)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bot.core.events import Delivery, PrClosed
from bot.settings import Settings
from bot.store.deliveries import DeliveryStore
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
    # the status views agree with the branch: both rules' targets show what the file holds
    groups = service.app.test_client().get("/api/groups").get_json()["groups"]
    rows = [t for g in groups for t in g["targets"] if t["image"] == IMAGE]
    assert len(rows) == 2 and {t["current"] for t in rows} == {"1.2.0"}, rows


def merge_and_tell(service: Service) -> None:
    """A person merges the bot's PR; the bot hears of it (the forge's ``pull_request closed``)."""
    [pr] = service.prs()
    assert service.forge.merge_pr(REPO, pr.number, "squash", pr.head_sha)
    head = service.forge.branch_head(REPO, "main")
    event = PrClosed("local", REPO, pr.number, True, pr.head_branch, "main", "alice", head)
    ident = f"merge-{uuid.uuid4().hex[:8]}"
    DeliveryStore(service.conn, service.settings).admit(
        Delivery(ident, "local", "2026-12-07T10:00:00Z", (event,))
    )
    service.delivered.append(ident)
    service.wait_settled()


def test_a_lower_build_of_the_losing_rule_never_goes_over_what_landed(service: Service) -> None:
    """The glob rule's 1.2.0 won over the narrower rule's 1.1.5 and was merged; a later 1.1.6,
    which only the narrower rule takes (its own mark is 1.1.5), would take the file back: the
    mark of the reference (what landed there, by any rule) keeps it at 1.2.0."""
    service.push(IMAGE, "1.1.5")
    service.wait_settled()
    service.push(IMAGE, "1.2.0")
    service.wait_settled()
    merge_and_tell(service)
    assert f"image: {IMAGE}:1.2.0" in service.forge.read_file(REPO, "envs/dev/api.yaml", "main").decode()
    assert service.prs() == []

    late = service.push(IMAGE, "1.1.6")
    service.wait_settled()
    assert service.prs() == []  # nothing to write: the file already runs a higher version
    assert f"image: {IMAGE}:1.2.0" in service.forge.read_file(REPO, "envs/dev/api.yaml", "main").decode()
    found = service.app.test_client().get(f"/api/deliveries/{late}").get_json()
    assert found["verdict"] == "nothing to do", found
    said = "superseded by 1.2.0, which envs/dev/api.yaml already got"
    assert [o["status"] for o in found["outcomes"]] == ["superseded", "superseded"], found
    assert any(said in o["reason"] for o in found["outcomes"]), found
    assert said in service.status_page()
    # a newer version of either rule still moves the file
    service.push(IMAGE, "1.2.1")
    service.wait_settled()
    [pr] = service.prs()
    assert (
        f"image: {IMAGE}:1.2.1" in service.forge.read_file(REPO, "envs/dev/api.yaml", pr.head_branch).decode()
    )


def pushing(root: Path) -> str:
    """The same rules, with dev updated by pushing to its base branch (no PR)."""
    return routing(root).replace("environments: {dev: {}}", "environments: {dev: {pr: {mode: push}}}")


def test_in_push_mode_a_lower_build_of_the_losing_rule_is_not_pushed_either(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> None:
    for service in start_service(tmp_path, make_settings, redis_conn, pushing):
        service.push(IMAGE, "1.1.5")
        service.wait_settled()
        service.push(IMAGE, "1.2.0")
        service.wait_settled()
        assert f"image: {IMAGE}:1.2.0" in service.forge.read_file(REPO, "envs/dev/api.yaml", "main").decode()
        service.push(IMAGE, "1.1.6")  # only the narrower rule takes it
        service.wait_settled()
        assert f"image: {IMAGE}:1.2.0" in service.forge.read_file(REPO, "envs/dev/api.yaml", "main").decode()
        assert service.prs() == []

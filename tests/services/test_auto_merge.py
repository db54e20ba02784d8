"""``pr.auto_merge: true``: the forge's own auto-merge after the bot writes a PR, and the bot's wait
where the forge lacks or refuses it. GitHub and GitLab through the real adapters over the fakes
(their GraphQL and REST requests are checked against the vendors' schemas by tests/contracts), the
local forge on real git; then the reconcile and the wish job through a real container and Redis."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bot.core.ports import Forge, PullRequest
from bot.deps import Container
from bot.forges.local.adapter import LocalGitForge
from bot.jobs import runtime
from bot.jobs.automerge import auto_merge_when_ready
from bot.services.auto_merge import auto_merge
from bot.services.lifecycle import sync_group
from bot.services.reconcile import reconcile
from bot.settings import Settings
from tests.fakes.github_api import GitHubFake
from tests.fakes.gitlab_api import GitLabFake
from tests.integration.world import REPO as LOCAL_REPO
from tests.integration.world import World as LocalWorld
from tests.integration.world import make_world as make_local_world
from tests.services.lifecycle_fixture import REPO
from tests.services.lifecycle_worlds import FakeWorld, World, make_world
from tests.services.test_reconcile import DEV, Flaky, push


class Waits:
    """The bot's wait, as ``bot.jobs.automerge.wait_for_merge`` keeps it: one wish per PR."""

    def __init__(self) -> None:
        self.wishes: dict[int, str] = {}

    def __call__(self, number: int, method: str) -> bool:
        if number in self.wishes:
            return False
        self.wishes[number] = method
        return True


def opened(world: World) -> PullRequest:
    pr = sync_group(world.forge, [world.intent()]).pr
    assert pr is not None
    return pr


@pytest.fixture
def github(tmp_path: Path) -> Iterator[FakeWorld]:
    with make_world("github", tmp_path) as w:
        assert isinstance(w, FakeWorld) and isinstance(w.fake, GitHubFake)
        yield w


@pytest.fixture
def gitlab(tmp_path: Path) -> Iterator[FakeWorld]:
    with make_world("gitlab", tmp_path) as w:
        assert isinstance(w, FakeWorld) and isinstance(w.fake, GitLabFake)
        yield w


def test_github_turns_its_own_auto_merge_on_with_the_configured_method(github: FakeWorld) -> None:
    pr, waits = opened(github), Waits()
    assert auto_merge(github.forge, REPO, pr, "rebase", wait=waits) == "on"
    assert github.fake.auto_merge == {pr.number: "REBASE"}  # type: ignore[union-attr]
    assert waits.wishes == {} and github.comments(pr.number) == []


def test_github_repo_without_auto_merge_falls_back_to_the_bots_wait_and_says_so_once(
    github: FakeWorld,
) -> None:
    github.fake.allow_auto_merge = False  # type: ignore[union-attr]
    pr, waits = opened(github), Waits()
    assert auto_merge(github.forge, REPO, pr, "squash", wait=waits) == "waiting"
    assert waits.wishes == {pr.number: "squash"}
    [said] = github.comments(pr.number)
    assert "`pr.auto_merge` is on" in said and "does not allow auto-merge" in said
    assert auto_merge(github.forge, REPO, pr, "squash", wait=waits) == "waiting"  # a later update
    assert len(github.comments(pr.number)) == 1
    assert github.pr(pr.number).state == "open"  # nothing merged


def test_github_refuses_auto_merge_on_a_pr_that_can_merge_now_so_it_is_merged_at_its_head(
    github: FakeWorld,
) -> None:
    """No required check pending: GitHub answers "clean status"; auto-merge would merge at once."""
    github.fake.checks_pending = False  # type: ignore[union-attr]
    pr, waits = opened(github), Waits()
    assert auto_merge(github.forge, REPO, pr, "squash", wait=waits) == "on"
    assert github.pr(pr.number).state == "merged" and waits.wishes == {}
    assert b"ghcr.io/acme/api:1.1.0" in github.forge.read_file(REPO, "envs/dev/api.yaml", "main")


def test_gitlab_waits_for_the_heads_pipeline_then_its_own_auto_merge_takes_over(gitlab: FakeWorld) -> None:
    pr, waits = opened(gitlab), Waits()
    assert auto_merge(gitlab.forge, REPO, pr, "squash", wait=waits) == "waiting"  # no pipeline yet
    assert waits.wishes == {pr.number: "squash"} and pr.number not in gitlab.fake.auto_merge
    assert "no pipeline for its head yet" in gitlab.comments(pr.number)[0]
    gitlab.fake.pipelines[pr.number] = {"sha": pr.head_sha, "ref": pr.head_branch}  # type: ignore[union-attr]
    assert auto_merge(gitlab.forge, REPO, pr, "squash", wait=waits) == "on"
    sent = gitlab.fake.auto_merge[pr.number]  # type: ignore[union-attr]
    assert sent["squash"] is True and sent["sha"] == pr.head_sha and gitlab.pr(pr.number).state == "open"


# --- through the reconcile and the wish job ------------------------------------------------------
@pytest.fixture
def world(tmp_path: Path) -> LocalWorld:
    built = make_local_world(tmp_path, images=3, envs=("dev",))
    config = json.loads(built.config_path.read_text())
    config["defaults"]["pr"] = {"auto_merge": True, "merge_method": "merge"}
    built.config_path.write_text(json.dumps(config))
    return built


@pytest.fixture
def container(
    world: LocalWorld, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> Iterator[Container]:
    settings = make_settings(config_path=world.config_path)
    forge = Flaky(LocalGitForge(world.root, bot_login=settings.bot_login))
    c = Container(settings, forges={"local": forge})  # type: ignore[dict-item]
    runtime.install(c)
    yield c
    runtime.install(None)


def local(container: Container) -> Forge:
    return container.forge("local")


def test_a_reconcile_turns_the_forges_auto_merge_on_after_it_opens_the_pr(container: Container) -> None:
    push(container, 0, "1.2.0")
    report = reconcile(container.reconcile_deps, DEV)
    assert report.auto_merge == "on" and report.pr_number is not None
    assert (
        local(container).get_pr(LOCAL_REPO, report.pr_number).state == "merged"
    )  # the local forge merges at once


def test_a_refused_auto_merge_leaves_a_wish_the_job_fulfils_once_the_forge_takes_it(
    container: Container,
) -> None:
    forge = local(container)
    real = forge.inner.enable_auto_merge  # type: ignore[attr-defined]
    forge.inner.enable_auto_merge = lambda *_a: False  # type: ignore[attr-defined]  # e.g. no pipeline yet
    push(container, 0, "1.2.0")
    report = reconcile(container.reconcile_deps, DEV)
    number = report.pr_number
    assert report.auto_merge == "waiting" and number is not None
    wish = container.dispatch.auto_merge_wish("local", LOCAL_REPO, number)
    assert wish is not None and wish.method == "merge"
    [said] = forge.inner.pr_record(LOCAL_REPO, number)["comments"]  # type: ignore[attr-defined]
    assert "`pr.auto_merge` is on" in said["body"]
    assert auto_merge_when_ready("local", LOCAL_REPO, number) == {"pr": number, "waiting": True, "attempt": 1}
    forge.inner.enable_auto_merge = real  # type: ignore[attr-defined]  # the pipeline ran
    assert auto_merge_when_ready("local", LOCAL_REPO, number) == {"pr": number, "auto_merge": True}
    assert container.dispatch.auto_merge_wish("local", LOCAL_REPO, number) is None
    assert forge.get_pr(LOCAL_REPO, number).state == "merged"


def test_the_pr_is_told_of_the_wait_when_it_opens_not_on_every_update(container: Container) -> None:
    """GitLab waits for a pipeline after every push: one comment when the PR opens, none later."""
    forge = local(container)
    forge.inner.enable_auto_merge = lambda *_a: False  # type: ignore[attr-defined]
    push(container, 0, "1.2.0")
    number = reconcile(container.reconcile_deps, DEV).pr_number
    assert number is not None
    container.dispatch.cancel_auto_merge("local", LOCAL_REPO, number)  # the wait ended (gave up)
    push(container, 0, "1.3.0")
    report = reconcile(container.reconcile_deps, DEV)
    assert report.auto_merge == "waiting"
    assert container.dispatch.auto_merge_wish("local", LOCAL_REPO, number) is not None  # waiting again
    assert len(forge.inner.pr_record(LOCAL_REPO, number)["comments"]) == 1  # type: ignore[attr-defined]

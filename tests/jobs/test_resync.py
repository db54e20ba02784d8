"""The periodic resync notices what changed without a webhook, on a real git forge: the base moved
(no push event), the PR was merged or closed (no pull_request event), a group is dirty and nothing
would ask for it. Bounded per run, going on where the last run stopped. (Locks held past any
job's time: the sweep, tests/jobs/test_sweep.py.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bot.core.events import Delivery, ImagePushed
from bot.deps import Container
from bot.jobs import runtime
from bot.jobs.resync import resync
from bot.services.events import apply_delivery
from bot.services.reconcile import reconcile, repo_lock
from bot.settings import Settings
from bot.store.recovery import RecoveryStore
from tests.integration.world import REPO, World, git, image_name, make_world, tags_at

DEV = f"local:{REPO}:main:dev"
PROD = f"local:{REPO}:main:prod"


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path, images=1, envs=("dev", "prod"))


@pytest.fixture
def container(
    world: World, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> Iterator[Container]:
    built = Container(make_settings(config_path=world.config_path, resync_batch=10))
    built.__dict__["redis"] = redis_conn
    runtime.install(built)
    yield built
    runtime.install(None)


def push(container: Container, tag: str) -> list[str]:
    event = ImagePushed(image_name(0), tag, None, "generic")
    delivery = Delivery(f"generic-{tag}", "generic", "", (event,))
    return apply_delivery(container.intents, container.config, delivery, bot_login="manifest-bot[bot]").groups


def reconciled(container: Container, tag: str) -> None:
    """Both groups have an open PR for ``tag`` and nothing left to do."""
    for group in push(container, tag):
        reconcile(container.reconcile_deps, group)
    assert not container.intents.dirty(DEV) and container.intents.groups.get(DEV).pr_number


def test_a_base_that_moved_without_a_push_event_is_observed_again(container: Container, world: World) -> None:
    reconciled(container, "1.1.0")
    assert resync()["base_moved"] == 0  # nothing moved: two reads, no change
    (world.repo_dir / "README.md").write_text("a person's commit\n")
    git(world.repo_dir, "add", "-A")
    git(world.repo_dir, "commit", "-q", "-m", "docs")  # pushed to main; the webhook never came

    result = resync()

    assert result["base_moved"] == 2 and result["observed"] == 2
    assert container.intents.dirty(DEV) and container.dispatch.reconcile_state(DEV) == "queued"
    before = git(world.repo_dir, "rev-parse", world.branch("dev")).strip()
    reconcile(container.reconcile_deps, DEV)  # checked against the new base: it moved beside the PR
    assert git(world.repo_dir, "rev-parse", world.branch("dev")).strip() == before  # pr.rebase: conflicted
    assert resync()["base_moved"] == 1  # prod is not checked against the new base until it reconciles


def test_a_pr_merged_without_an_event_is_handled_as_the_event_would(container: Container) -> None:
    reconciled(container, "1.1.0")
    forge = container.forge("local")
    number = container.intents.groups.get(DEV).pr_number
    assert number is not None
    assert forge.merge_pr(REPO, number, "merge", None)  # merged on the forge; the webhook was lost

    result = resync()

    assert result["pr_merged"] == 1
    record = container.intents.groups.get(DEV)
    assert record.pr_number is None and container.intents.snapshot(DEV).active == {}
    assert container.dispatch.reconcile_state(DEV) == "queued"


def test_a_pr_a_person_closed_without_an_event_ignores_its_versions(container: Container) -> None:
    reconciled(container, "1.1.0")
    forge = container.forge("local")
    number = container.intents.groups.get(PROD).pr_number
    assert number is not None
    forge.close_pr(REPO, number)

    assert resync()["pr_closed"] == 1
    record = container.intents.groups.get(PROD)
    assert record.pr_number is None
    assert [m.label for m in record.state.ignored] == ["1.1.0 (PR closed without merging)"]
    push(container, "1.1.0")  # the same version again stays ignored
    assert container.intents.snapshot(PROD).active == {}


def test_a_dirty_group_nothing_asks_for_gets_its_safety_net_and_busy_repos_are_skipped(
    container: Container,
) -> None:
    reconciled(container, "1.1.0")
    push(container, "1.2.0")  # dirty, and never requested (its request was lost)
    lock = repo_lock(container.reconcile_deps, "local", REPO)
    assert lock.acquire(heartbeat=False)  # someone is reconciling the repo right now
    try:
        result = resync()
    finally:
        lock.release()
    assert result["busy"] == 2 and result["dirty_requeued"] == 2
    assert container.dispatch.reconciles.when(DEV) is not None  # the leader asks for it when due
    assert resync()["dirty_requeued"] == 0  # it has one now


def test_each_run_takes_the_next_batch_of_groups(
    container: Container, world: World, make_settings: Callable[..., Settings]
) -> None:
    reconciled(container, "1.1.0")
    small = Container(make_settings(config_path=world.config_path, resync_batch=1))
    small.__dict__["redis"] = container.redis
    runtime.install(small)
    store = RecoveryStore(container.redis, container.settings)
    done = []
    for _ in range(3):
        assert resync()["observed"] == 1
        done.append(store.cursor("resync"))
    assert done == [DEV, PROD, DEV]  # in key order, round again
    assert tags_at(world, world.branch("dev"), "dev") == {0: "1.1.0"}

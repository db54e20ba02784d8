"""The reconcile service and jobs in-process: real Redis, a real local git repository, the real
planner and PR lifecycle service; a thin forge wrapper only where a test injects a failure."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.core.events import Delivery, ImagePushed, PrClosed, Push
from bot.core.keys import GroupKey
from bot.deps import Container
from bot.errors import Conflict, ManifestError, RateLimited, Transient
from bot.forges.local.adapter import LocalGitForge
from bot.jobs import runtime
from bot.jobs.dispatch import SAFETY_S, retry_delay
from bot.services.events import apply_delivery
from bot.services.reconcile import reconcile, reconcile_locked
from bot.settings import Settings
from bot.store.groups import GroupStore
from tests.integration.world import REPO, World, git, image_name, make_world, tags_at

DEV = "local:manifests:main:dev"


class Flaky:
    """Delegates to the real forge; raises queued errors on the named method's next calls."""

    def __init__(self, inner: LocalGitForge) -> None:
        self.inner = inner
        self.info = inner.info
        self.fail: dict[str, list[Exception]] = {}
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            if self.fail.get(name):
                raise self.fail[name].pop(0)
            return target(*args, **kwargs)

        return call


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path, images=3, envs=("dev",))


@pytest.fixture
def container(
    world: World, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> Iterator[Container]:
    settings = make_settings(
        config_path=world.config_path, lock_timeout_s=5, retry_base_s=2.0, retry_cap_s=60
    )
    forge = Flaky(LocalGitForge(world.root, bot_login=settings.bot_login))
    c = Container(settings, forges={"local": forge})  # type: ignore[dict-item]
    runtime.install(c)
    yield c
    runtime.install(None)


def push(c: Container, i: int, tag: str, delivery: str = "d") -> list[str]:
    event = ImagePushed(image_name(i), tag, None, "generic")
    out = apply_delivery(
        c.intents,
        c.config,
        Delivery(delivery, "generic", "2024-01-01T00:00:00Z", (event,)),
        bot_login=c.settings.bot_login,
    )
    return out.groups


def test_reconcile_opens_pr_then_is_a_free_noop(container: Container, world: World) -> None:
    assert push(container, 0, "1.2.0") == [DEV]
    report = reconcile(container.reconcile_deps, DEV)
    assert (report.rounds, report.deferred, report.pr_number) == (1, False, 1)
    assert tags_at(world, "manifest-bot/dev/dev", "dev")[0] == "1.2.0"
    forge = container.forge("local")
    before = dict(forge.calls)  # type: ignore[attr-defined]
    again = reconcile(container.reconcile_deps, DEV)
    assert again.rounds == 0 and forge.calls == before  # type: ignore[attr-defined]  # no forge call at all


def test_a_reconcile_reads_its_group_once_and_writes_it_once(
    container: Container, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group's record: one read before the sync, one atomic write after it (the PR, what the
    branch holds, the repo file's notes and the error all in that one write)."""
    seen: dict[str, int] = {"get": 0, "update": 0}
    for name in seen:
        real = getattr(GroupStore, name)

        def counted(self: GroupStore, *args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            seen[_name] += 1
            return _real(self, *args, **kw)

        monkeypatch.setattr(GroupStore, name, counted)
    config = json.loads(world.config_path.read_text())
    world.config_path.write_text(json.dumps({**config, "repo_files": {"allow": ["pr.labels"]}}))
    (world.repo_dir / ".manifest-bot.yaml").write_text("pr:\n  reviewers: [bob]\n")  # not allowed
    git(world.repo_dir, "add", "-A")
    git(world.repo_dir, "commit", "-q", "-m", "the repo's own file")
    container.config_reloads.refresh()
    push(container, 0, "1.2.0")
    report = reconcile(container.reconcile_deps, DEV)
    assert report.pr_number is not None and seen == {"get": 1, "update": 1}
    record = container.intents.groups.get(DEV)
    assert [p.split(": ")[1] for p in record.repo_file_problems] == ["pr.reviewers"]
    assert record.repo_file_commented is not None  # and said on the PR, in the same write


def test_late_old_build_changes_nothing(container: Container, world: World) -> None:
    push(container, 0, "1.3.0")
    reconcile(container.reconcile_deps, DEV)
    head = tags_at(world, "manifest-bot/dev/dev", "dev")
    assert push(container, 0, "1.2.9", "late") == []  # superseded: not even a reconcile
    assert container.intents.superseded(DEV)[0]["reason"] == "older"
    assert tags_at(world, "manifest-bot/dev/dev", "dev") == head


def test_lock_held_defers_and_release_hands_the_group_back(container: Container) -> None:
    push(container, 0, "1.2.0")
    holder = reconcile_lock(container)
    assert holder.acquire()
    report = reconcile(container.reconcile_deps, DEV)
    assert report.deferred and 0 < report.lock_ttl_s <= 5
    assert holder.release() == [DEV]
    assert reconcile(container.reconcile_deps, DEV).rounds == 1


def reconcile_lock(c: Container):
    from bot.services.reconcile import lock_for

    return lock_for(c.reconcile_deps, GroupKey.parse(DEV))


def test_conflict_means_observe_again(container: Container, world: World) -> None:
    push(container, 0, "1.2.0")
    forge = container.forge("local")
    forge.fail["commit_files"] = [Conflict("moved"), Conflict("moved again")]  # type: ignore[attr-defined]
    report = reconcile(container.reconcile_deps, DEV)
    assert report.rounds == 1 and forge.calls["commit_files"] == 3  # type: ignore[attr-defined]
    assert tags_at(world, "manifest-bot/dev/dev", "dev")[0] == "1.2.0"


def test_endless_conflict_becomes_transient_and_frees_the_lock(container: Container) -> None:
    push(container, 0, "1.2.0")
    container.forge("local").fail["commit_files"] = [Conflict("x")] * 10  # type: ignore[attr-defined]
    with pytest.raises(Transient):
        reconcile(container.reconcile_deps, DEV)
    assert reconcile_lock(container).held_ms() == 0
    assert container.intents.dirty(DEV)  # not marked applied: the retry will do it


def test_permanent_error_recorded_and_commented_once(container: Container, world: World) -> None:
    push(container, 0, "1.2.0")
    assert reconcile(container.reconcile_deps, DEV).pr_number == 1
    push(container, 0, "1.3.0")
    forge = container.forge("local")
    boom = ManifestError("cannot edit safely", file="envs/dev/app00.yaml", line=11)
    forge.fail["commit_files"] = [boom, boom]  # type: ignore[attr-defined]
    for _ in range(2):
        with pytest.raises(ManifestError):
            reconcile(container.reconcile_deps, DEV)
    record = container.intents.groups.get(DEV)
    assert record.state.last_error == boom.message
    comments = forge.inner.pr_record(REPO, 1)["comments"]  # type: ignore[attr-defined]
    assert sum("could not edit" in c["body"] for c in comments) == 1
    assert reconcile(container.reconcile_deps, DEV).rounds == 1  # fixed: the error is cleared
    assert container.intents.groups.get(DEV).state.last_error is None


def test_merged_pr_clears_satisfied_intents_and_keeps_newer(container: Container, world: World) -> None:
    push(container, 0, "1.2.0")
    reconcile(container.reconcile_deps, DEV)
    forge = container.forge("local")
    forge.merge_pr(REPO, 1, "squash", None)
    push(container, 1, "2.0.0", "after")  # arrived after the PR's last sync: stays wanted
    event = PrClosed("local", REPO, 1, True, "manifest-bot/dev/dev", "main", "alice")
    assert push_events(container, event) == [DEV]
    active = container.intents.snapshot(DEV).active
    assert [i.tag for i in active.values()] == ["2.0.0"]
    report = reconcile(container.reconcile_deps, DEV)
    assert report.pr_number == 2
    assert tags_at(world, "manifest-bot/dev/dev", "dev") == {0: "1.2.0", 1: "2.0.0", 2: "1.0.0"}


def test_pr_closed_by_a_person_ignores_that_version_until_newer(container: Container, world: World) -> None:
    push(container, 0, "1.2.0")
    reconcile(container.reconcile_deps, DEV)
    container.forge("local").close_pr(REPO, 1)
    push_events(container, PrClosed("local", REPO, 1, False, "manifest-bot/dev/dev", "main", "alice"))
    assert container.intents.snapshot(DEV).active == {}
    reconcile(container.reconcile_deps, DEV)
    assert push(container, 0, "1.2.0", "again") == []  # that version stays ignored
    assert container.intents.superseded(DEV)[0]["reason"] == "ignored"
    assert push(container, 0, "1.2.1", "newer") == [DEV]
    assert reconcile(container.reconcile_deps, DEV).pr_number == 2


def test_push_to_base_bumps_groups_on_that_branch(container: Container) -> None:
    push(container, 0, "1.2.0")
    reconcile(container.reconcile_deps, DEV)
    assert not container.intents.dirty(DEV)
    assert push_events(container, Push("local", REPO, "refs/heads/other", "a", "b")) == []
    assert push_events(container, Push("local", REPO, "refs/heads/main", "a", "b")) == [DEV]
    assert container.intents.dirty(DEV)


def push_events(c: Container, *events: Any) -> list[str]:
    out = apply_delivery(
        c.intents,
        c.config,
        Delivery("e", "github", "2024-01-01T00:00:00Z", events),
        bot_login=c.settings.bot_login,
    )
    return out.groups


def test_request_reconcile_coalesces_until_the_job_starts(
    container: Container, redis_conn: redis.Redis
) -> None:
    first = container.dispatch.request_reconcile(DEV)
    assert first is not None
    assert container.dispatch.request_reconcile(DEV) is None
    assert container.dispatch.queue.job_ids == [first]
    container.dispatch.clear_marker(DEV)  # what the job does once it holds the lock
    assert container.dispatch.request_reconcile(DEV) not in (None, first)


def test_a_failed_reconcile_is_asked_again_after_the_backoff_and_a_clean_one_forgotten(
    container: Container,
) -> None:
    dispatch = container.dispatch
    container.clock = lambda: 1000.0  # type: ignore[method-assign]
    dispatch.clock = container.clock
    dispatch.request_reconcile(DEV)
    assert dispatch.reconciles.when(DEV) == 1000.0 + SAFETY_S
    delay = dispatch.reconcile_failed(DEV, Transient("502"), permanent=False)
    assert dispatch.reconciles.when(DEV) == 1000.0 + delay and dispatch.attempts(DEV) == 1
    later = dispatch.reconcile_failed(DEV, RateLimited("slow down", retry_after=900), permanent=False)
    assert later >= 900  # the forge's Retry-After wins
    dispatch.reconciled(DEV, started_at=1000.0 + later)
    assert dispatch.reconciles.when(DEV) is None and dispatch.attempts(DEV) == 0


def test_reconcile_locked_runs_again_while_generation_moves(container: Container) -> None:
    push(container, 0, "1.2.0")
    seen = []
    real = container.reconcile_deps.sync

    def sync(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs)
        if len(seen) == 1:
            push(container, 1, "1.5.0", "meanwhile")  # an event lands during the first sync
        return real(*args, **kwargs)

    container.reconcile_deps.sync = sync  # type: ignore[method-assign]
    report = reconcile_locked(container.reconcile_deps, DEV)
    assert report.rounds == 2 and not container.intents.dirty(DEV)


@pytest.mark.parametrize(
    ("error", "attempt", "low", "high"),
    [
        (Transient("502"), 0, 1.0, 2.0),
        (Transient("502"), 3, 8.0, 16.0),
        (Transient("502"), 10, 30.0, 60.0),  # capped
        (RateLimited("slow down", retry_after=45), 0, 45.0, 45.0),  # Retry-After wins when longer
        (RateLimited("slow down", retry_after=600), 0, 600.0, 600.0),  # and is honoured past the cap
    ],
)
def test_retry_delay_backoff_jitter_and_retry_after(
    error: Transient, attempt: int, low: float, high: float
) -> None:
    for _ in range(20):
        assert low <= retry_delay(2.0, 60.0, attempt, error) <= high

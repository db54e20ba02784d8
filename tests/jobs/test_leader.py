"""The periodic leader: one worker leads at a time, a dead leader is replaced, and everything due
is turned into a job exactly once per slot — periodic tasks, groups still dirty after their
reconcile should have run, commands whose job or lock holder was lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from rq.job import Job

from bot.core.events import PrComment
from bot.deps import Container
from bot.jobs import leader as leader_module
from bot.jobs.dispatch import SAFETY_S, PendingCommand, command_token
from bot.jobs.leader import REARM_S, Leader
from bot.settings import Settings
from tests.doubles import Clock
from tests.web.conftest import intent

GROUP = "local:shop-manifests:main:dev"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def container(settings: Settings, redis_conn: redis.Redis, clock: Clock) -> Iterator[Container]:
    built = Container(settings, clock=clock)
    built.__dict__["redis"] = redis_conn
    yield built


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def leader(container: Container, name: str = "w") -> Leader:
    return container.engine(name).leader


def queued(container: Container) -> list[Job]:
    q = container.dispatch.queue
    return [j for j in (q.fetch_job(i) for i in q.job_ids) if j is not None]


def funcs(container: Container) -> list[str]:
    return sorted(j.func_name.rsplit(".", 1)[-1] for j in queued(container))


def test_one_leader_among_many_and_each_task_queued_once(container: Container) -> None:
    leaders = [leader(container, f"w{i}") for i in range(8)]
    results: list[object] = []
    start = threading.Barrier(8)

    def tick(one: Leader) -> None:
        start.wait(timeout=10)
        results.append(one.tick())

    threads = [threading.Thread(target=tick, args=(one,)) for one in leaders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    led = [r for r in results if r is not None]
    assert len(led) == 1 and led[0]["tasks"] == 4  # type: ignore[index]
    assert funcs(container) == ["run_task"] * 4
    names = sorted(j.kwargs["name"] for j in queued(container))
    assert names == ["promote", "resync", "sweep", "webhook-recovery"]
    again = [one.tick() for one in leaders]
    assert sum(r is not None for r in again) == 1
    assert len(queued(container)) == 4  # nothing is due again before its interval


def test_a_task_is_queued_again_after_its_interval(container: Container, clock: Clock) -> None:
    one = leader(container)
    one.tick()
    clock.now += container.settings.sweep_interval_s
    assert one.tick() == {  # the sweep, and the promotion task (same interval)
        "tasks": 2, "reconciles": 0, "commands": 0, "auto_merges": 0, "registry_waits": 0, "polls": 0,
    }  # fmt: skip
    assert [j.kwargs["name"] for j in queued(container)].count("sweep") == 2


def test_a_dead_leader_is_replaced(container: Container, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(leader_module, "LEADER_TTL_MS", 300)
    first, second = leader(container, "a"), leader(container, "b")
    assert first.tick() is not None and second.tick() is None
    key = container.settings.key("leader")
    # first dies: nobody extends its hold, which expires by itself
    container.redis.pexpire(key, 1)
    wait_until(lambda: not container.redis.exists(key))
    assert second.tick() is not None
    assert first.tick() is None


def test_a_leader_shutting_down_hands_over_at_once(container: Container) -> None:
    first, second = leader(container, "a"), leader(container, "b")
    first.tick()
    first.release()
    assert second.tick() is not None


def test_a_dirty_group_whose_reconcile_was_lost_is_asked_again(container: Container, clock: Clock) -> None:
    container.intents.merge([intent("ghcr.io/a/b", "9", 9, ("a.yaml",))])
    first = container.dispatch.request_reconcile(GROUP)
    container.dispatch.queue.empty()  # the job was lost with its worker
    one = leader(container)
    one.tick()
    assert "reconcile_group" not in funcs(container)  # not before its safety time
    clock.now += SAFETY_S
    assert one.tick()["reconciles"] == 1  # type: ignore[index]
    jobs = [j for j in queued(container) if j.func_name.endswith("reconcile_group")]
    assert len(jobs) == 1 and jobs[0].id != first and jobs[0].kwargs["group_key"] == GROUP


def test_a_clean_group_is_forgotten_by_the_safety_net(container: Container, clock: Clock) -> None:
    container.intents.merge([intent("ghcr.io/a/b", "9", 9, ("a.yaml",))])
    container.dispatch.request_reconcile(GROUP)
    container.intents.mark_applied(GROUP, 1)  # a reconcile got through without telling the set
    clock.now += SAFETY_S
    assert leader(container).tick()["reconciles"] == 0  # type: ignore[index]
    assert container.dispatch.reconciles.when(GROUP) is None


def test_a_group_asked_again_is_checked_again_later(container: Container, clock: Clock) -> None:
    """A taken member comes back after REARM_S whoever took it (a leader that died mid-tick)."""
    container.intents.merge([intent("ghcr.io/a/b", "9", 9, ("a.yaml",))])
    container.dispatch.reconciles.at({GROUP: clock.now})
    taken = container.dispatch.reconciles.take(clock.now, 10, REARM_S)
    assert taken == [GROUP] and container.dispatch.reconciles.when(GROUP) == clock.now + REARM_S


def test_a_command_whose_job_was_lost_is_queued_again(container: Container, clock: Clock) -> None:
    comment = PrComment("local", "shop-manifests", 1, "alice", "/manifest-bot rebase", 77)
    command = PendingCommand(comment, "local-c1", None, command_token(comment))
    container.dispatch.enqueue_command(command)
    container.dispatch.queue.empty()
    one = leader(container)
    one.tick()
    clock.now += SAFETY_S
    assert one.tick()["commands"] == 1  # type: ignore[index]
    assert "handle_command" in funcs(container)
    container.dispatch.drop_pending(command.token)  # it ran
    clock.now += REARM_S + SAFETY_S
    assert one.tick()["commands"] == 0  # type: ignore[index]


def test_an_idle_tick_is_cheap(container: Container, redis_conn: redis.Redis) -> None:
    one = leader(container)
    one.tick()  # the first one queues the tasks
    calls = []
    real = redis_conn.execute_command

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(args[0])
        return real(*args, **kwargs)

    container.redis.execute_command = counting  # type: ignore[method-assign]
    one.tick()
    assert len(calls) <= 3, calls

"""Periodic jobs: due once per slot whoever ticks, never two runs at once, every run recorded."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from rq import Queue

from bot.deps import Container
from bot.jobs import runtime
from bot.jobs.periodic import Periodic, PeriodicJob, run_periodic
from bot.settings import Settings

CALLS: list[dict[str, Any]] = []


def count_things(n: int) -> dict[str, int]:
    CALLS.append({"n": n})
    return {"things": n}


def boom() -> dict[str, int]:
    raise RuntimeError("the forge said no")


JOB = PeriodicJob("count", f"{__name__}.count_things", 60, {"n": 3})


@pytest.fixture
def container(settings: Settings, redis_conn: redis.Redis) -> Iterator[Container]:
    built = Container(settings, clock=lambda: 1000.0)
    built.__dict__["redis"] = redis_conn
    runtime.install(built)
    CALLS.clear()
    yield built
    runtime.install(None)


def periodic(container: Container, now: list[float], jobs: list[PeriodicJob]) -> Periodic:
    return Periodic(container.redis, container.settings, container.queue, lambda: jobs, lambda: now[0])


def test_due_once_per_slot_however_many_workers_tick(container: Container, redis_conn: redis.Redis) -> None:
    now = [1000.0]
    tickers = [periodic(container, now, [JOB]) for _ in range(8)]
    results: list[list[str]] = []
    start = threading.Barrier(8)

    def tick(p: Periodic) -> None:
        start.wait(timeout=10)
        results.append(p.tick())

    threads = [threading.Thread(target=tick, args=(p,)) for p in tickers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(len(r) for r in results) == [0] * 7 + [1]
    queue = Queue(container.settings.queue("reconcile"), connection=redis_conn)
    assert queue.count == 1
    now[0] += 59
    assert tickers[0].tick() == []
    now[0] += 1
    assert tickers[1].tick() == ["count"]
    assert queue.count == 2


def test_a_run_records_its_result_and_a_second_run_at_once_is_skipped(container: Container) -> None:
    assert run_periodic("count", JOB.func, {"n": 3}) == {"job": "count", "things": 3}
    last = periodic(container, [0.0], [JOB]).last_runs()["count"]
    assert (last["outcome"], last["result"], last["at"]) == ("ok", {"things": 3}, 1000.0)

    lock_key = container.settings.key("periodic", "running", "count")
    container.redis.set(lock_key, "another-worker", px=60_000)  # a run in progress elsewhere
    assert run_periodic("count", JOB.func, {"n": 5})["skipped"]
    assert CALLS == [{"n": 3}]


def test_a_failing_run_is_recorded_with_its_error_and_frees_the_lock(container: Container) -> None:
    with pytest.raises(RuntimeError):
        run_periodic("boom", f"{__name__}.boom", {})
    raw = container.redis.get(container.settings.key("periodic", "last", "boom"))
    assert raw is not None
    last = json.loads(raw)
    assert (last["outcome"], last["error"]) == ("error", "RuntimeError: the forge said no")
    assert not container.redis.exists(container.settings.key("periodic", "running", "boom"))


def test_the_worker_maintenance_ticks_the_containers_jobs(
    container: Container, make_settings: Callable[..., Settings]
) -> None:
    names = [j.name for j in container.periodic_jobs()]
    assert "sweep" in names
    assert container.periodic.tick() == names  # all due on the first tick
    assert container.periodic.tick() == []

"""Periodic tasks: a run records its result, never two runs at once, a failing run is recorded
with its error and frees its lock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from bot.deps import Container
from bot.jobs import runtime
from bot.jobs.leader import Task
from bot.jobs.periodic import last_runs, run_task
from bot.settings import Settings

CALLS: list[str] = []


def count_things() -> dict[str, int]:
    CALLS.append("count")
    return {"things": 3}


def boom() -> dict[str, int]:
    raise RuntimeError("the forge said no")


TASKS = [Task("count", f"{__name__}.count_things", 60), Task("boom", f"{__name__}.boom", 60)]


class TasksContainer(Container):
    def periodic_tasks(self) -> list[Task]:
        return TASKS


@pytest.fixture
def container(settings: Settings, redis_conn: redis.Redis) -> Iterator[Container]:
    built = TasksContainer(settings, clock=lambda: 1000.0)
    built.__dict__["redis"] = redis_conn
    runtime.install(built)
    CALLS.clear()
    yield built
    runtime.install(None)


def test_a_run_records_its_result_and_a_second_run_at_once_is_skipped(container: Container) -> None:
    assert run_task("count") == {"job": "count", "things": 3}
    last = last_runs(container.redis, container.settings, TASKS)["count"]
    assert (last["outcome"], last["result"], last["at"]) == ("ok", {"things": 3}, 1000.0)

    lock_key = container.settings.key("periodic", "running", "count")
    container.redis.set(lock_key, "another-worker", px=60_000)  # a run in progress elsewhere
    assert run_task("count")["skipped"]
    assert CALLS == ["count"]


def test_a_failing_run_is_recorded_with_its_error_and_frees_the_lock(container: Container) -> None:
    with pytest.raises(RuntimeError):
        run_task("boom")
    raw = container.redis.get(container.settings.key("periodic", "last", "boom"))
    assert raw is not None
    last: dict[str, Any] = json.loads(raw)
    assert (last["outcome"], last["error"]) == ("error", "RuntimeError: the forge said no")
    assert not container.redis.exists(container.settings.key("periodic", "running", "boom"))


def test_a_task_no_longer_configured_does_nothing(container: Container) -> None:
    assert run_task("gone") == {"job": "gone", "skipped": "no such periodic task"}


def test_the_deployment_runs_its_housekeeping_tasks(settings: Settings) -> None:
    names = [t.name for t in Container(settings).periodic_tasks()]
    assert names == ["sweep", "resync", "webhook-recovery", "promote"]

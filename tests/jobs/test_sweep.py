"""The sweep keeps Redis bounded and its records true: a delivery whose stream entry Redis lost is
queued again, the stream is trimmed below what was acknowledged (never what is pending), gone
consumers are forgotten, a lock held past any job is freed and its waiters woken."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from bot.core.events import Delivery, ImagePushed
from bot.deps import Container
from bot.jobs import runtime
from bot.jobs import sweep as sweep_module
from bot.jobs.sweep import sweep
from bot.services.reconcile import repo_lock
from bot.settings import Settings
from bot.store.deliveries import Outcome
from bot.store.stream import GROUP
from tests.doubles import Clock

GROUP_KEY = "local:shop-manifests:main:dev"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def container(settings: Settings, redis_conn: redis.Redis, clock: Clock) -> Iterator[Container]:
    built = Container(settings, clock=clock)
    built.__dict__["redis"] = redis_conn
    runtime.install(built)
    yield built
    runtime.install(None)


def admit(container: Container, n: int) -> list[str]:
    out = []
    for i in range(n):
        event = ImagePushed("ghcr.io/a/b", f"1.{i}.0", None, "generic")
        out.append(container.deliveries.admit(Delivery(f"generic-{i}", "generic", "", (event,))).ref)
    return out


def test_a_delivery_whose_entry_redis_lost_is_queued_again(container: Container, clock: Clock) -> None:
    (ref,) = admit(container, 1)
    entry = container.redis.hget(container.deliveries.key(ref), "entry")
    container.redis.xdel(container.deliveries.stream.key, entry)  # restored from an older snapshot
    assert sweep()["deliveries_requeued"] == 0  # too young to judge
    clock.now += sweep_module.GRACE_S + 1
    assert sweep()["deliveries_requeued"] == 1
    (read,) = container.deliveries.stream.read("c", 10, None)
    assert read.ref == ref


def test_the_stream_is_trimmed_below_what_is_acknowledged_only(container: Container) -> None:
    refs = admit(container, 6)
    stream = container.deliveries.stream
    entries = stream.read("c", 10, None)
    done = entries[:4]  # the first four processed; the last two still pending at a consumer
    container.deliveries.record_outcomes([Outcome(e.ref) for e in done], [e.id for e in done])
    assert sweep()["stream_trimmed"] == 4
    left = [e.ref for e in stream.claim_idle("d", 10, min_idle_ms=0)]
    assert left == refs[4:]  # nothing pending was dropped
    container.deliveries.record_outcomes([Outcome(r) for r in left], [e.id for e in entries[4:]])
    assert sweep()["stream_trimmed"] == 2
    assert container.redis.xlen(stream.key) == 0
    admit(container, 1)
    assert sweep()["stream_trimmed"] == 0  # an entry nobody read yet stays


def test_consumers_gone_with_nothing_pending_are_forgotten(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    admit(container, 2)
    stream = container.deliveries.stream
    (first,) = stream.read("gone", 1, None)
    stream.read("holding", 1, None)
    container.deliveries.record_outcomes([Outcome(first.ref)], [first.id])
    monkeypatch.setattr(sweep_module, "CONSUMER_GONE_MS", 0)
    assert sweep()["consumers_forgotten"] == 1
    names = [c["name"].decode() for c in container.redis.xinfo_consumers(stream.key, GROUP)]
    assert names == ["holding"]  # it still holds an entry: never forgotten before it is claimed


def test_a_lock_held_past_any_job_is_freed_and_its_waiters_woken(container: Container) -> None:
    lock = repo_lock(container.reconcile_deps, "local", "shop-manifests")
    held_since_ms = int((container.clock() - 3600) * 1000)
    container.redis.set(lock.key, f"stuck@{held_since_ms}", px=60_000)  # its heartbeat keeps it alive
    lock.add_waiter(GROUP_KEY)
    young = repo_lock(container.reconcile_deps, "local", "other")
    assert young.acquire(heartbeat=False)  # held a moment ago: left alone

    assert sweep()["locks_freed"] == 1

    assert not container.redis.exists(lock.key) and container.redis.exists(young.key)
    assert container.dispatch.reconcile_state(GROUP_KEY) == "queued"

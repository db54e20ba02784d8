"""The deliveries consumer: a batch is planned, merged, its groups asked to reconcile, and only
then recorded and acknowledged; a consumer that dies leaves its batch to be claimed; one bad
delivery fails alone; a delivery that keeps killing its worker is given up with why."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.core.events import Delivery, ImagePushed
from bot.deps import Container
from bot.errors import ConfigError, Transient
from bot.jobs.consumer import Consumer
from bot.jobs.dispatch import SETTLE_S
from bot.services import events
from bot.settings import Settings
from bot.store.stream import GROUP, MAX_DELIVERIES

IMAGE = "ghcr.io/acme/web"
DEV = "local:m:main:dev"


def _config(root: Path) -> str:
    return json.dumps(
        {
            "version": 1,
            "forges": [{"name": "local", "kind": "local", "path": str(root)}],
            "defaults": {"policy": {"verify": False}},  # these images live in no registry
            "rules": [
                {
                    "name": "web",
                    "image": IMAGE,
                    "targets": [{"forge": "local", "repo": "m", "environment": "dev", "files": ["a.yaml"]}],
                }
            ],
        }
    )


@pytest.fixture
def container(settings: Settings, redis_conn: redis.Redis, tmp_path: Path) -> Iterator[Container]:
    routing = tmp_path / "routing.yaml"
    routing.write_text(_config(tmp_path))
    built = Container(settings.model_copy(update={"config_path": routing}))
    built.__dict__["redis"] = redis_conn
    yield built


def consumer(container: Container, name: str = "c1") -> Consumer:
    return container.engine(name).consumer


def admit(container: Container, n: int, start: int = 0) -> list[str]:
    refs = []
    for i in range(start, start + n):
        delivery = Delivery(f"generic-{i}", "generic", "", (ImagePushed(IMAGE, f"1.{i}.0", None, "generic"),))
        refs.append(container.deliveries.admit(delivery).ref)
    return refs


def statuses(container: Container, refs: list[str]) -> list[str]:
    return [container.deliveries.by_ref(r).status for r in refs]  # type: ignore[union-attr]


def pending(container: Container) -> int:
    return int(container.redis.xpending(container.deliveries.stream.key, GROUP)["pending"])


def test_a_batch_is_merged_then_acknowledged_and_its_group_asked_once_quiet(container: Container) -> None:
    refs = admit(container, 5)
    report = consumer(container).step()
    assert (report.read, report.handled, report.groups) == (5, 5, {DEV})
    assert statuses(container, refs) == ["processed"] * 5
    assert pending(container) == 0
    dispatch = container.dispatch
    after = dispatch.request_settled()  # the engine's next turn: the group's intents just came
    assert dispatch.reconcile_state(DEV) == "idle"
    assert after is not None and after <= dispatch.clock() + SETTLE_S
    dispatch.clock = lambda: after  # a quiet moment later
    assert dispatch.request_settled() is None
    assert dispatch.reconcile_state(DEV) == "queued"  # one job for the burst
    assert dispatch.queue.count == 1
    snap = container.intents.snapshot(DEV)
    assert [i.tag for i in snap.active.values()] == ["1.4.0"]  # the highest of the batch


def test_a_consumer_that_dies_mid_batch_leaves_it_to_be_claimed(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    refs = admit(container, 4)
    real = events.apply_deliveries

    def redis_gone(*_a: object, **_k: object) -> None:
        raise redis.ConnectionError("Redis went away mid-batch")

    monkeypatch.setattr(events, "apply_deliveries", redis_gone)
    report = consumer(container, "dies").step()
    assert (report.handled, report.left_pending) == (0, 4)
    assert statuses(container, refs) == ["queued"] * 4  # true: nothing was recorded
    assert pending(container) == 4

    monkeypatch.setattr(events, "apply_deliveries", real)
    assert consumer(container, "other").step().read == 0  # pending entries are not new ones
    claimed = consumer(container, "other").claim(min_idle_ms=0)
    assert (claimed.read, claimed.handled) == (4, 4)
    assert statuses(container, refs) == ["processed"] * 4 and pending(container) == 0


def test_a_transient_error_leaves_the_batch_pending_not_failed(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    refs = admit(container, 2)

    def forge_down(*_a: object, **_k: object) -> None:
        raise Transient("the forge did not answer reading the repo's own config")

    monkeypatch.setattr(events, "apply_deliveries", forge_down)
    assert consumer(container).step().left_pending == 2
    assert statuses(container, refs) == ["queued"] * 2 and pending(container) == 2


def test_one_bad_delivery_fails_alone_and_the_batch_is_processed(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    refs = admit(container, 6)
    bad = container.deliveries.get(refs[3])
    real = events.apply_deliveries

    def picky(store, config, deliveries, **kwargs):  # type: ignore[no-untyped-def]
        if any(d.events == bad.events for d in deliveries):  # type: ignore[union-attr]
            raise ConfigError("rules[0]: this delivery cannot be planned")
        return real(store, config, deliveries, **kwargs)

    monkeypatch.setattr(events, "apply_deliveries", picky)
    report = consumer(container).step()
    assert (report.handled, report.failed) == (6, 1)
    assert statuses(container, refs) == ["processed"] * 3 + ["failed"] + ["processed"] * 2
    assert "cannot be planned" in container.deliveries.by_ref(refs[3]).reason  # type: ignore[union-attr]
    assert container.intents.snapshot(DEV).active and pending(container) == 0


def test_a_delivery_that_keeps_killing_its_worker_is_given_up_with_why(container: Container) -> None:
    (ref,) = admit(container, 1)
    stream = container.deliveries.stream
    stream.read("victim-0", 10, None)
    for n in range(1, MAX_DELIVERIES):  # each consumer dies holding it; the next one claims it
        assert [e.deliveries for e in stream.claim_idle(f"victim-{n}", 10, min_idle_ms=0)] == [n + 1]
    report = consumer(container, "last").claim(min_idle_ms=0)
    assert (report.handled, report.failed) == (1, 1)
    record = container.deliveries.by_ref(ref)
    assert record is not None and record.status == "failed"
    assert f"handed to a worker {MAX_DELIVERIES} times" in record.reason
    assert pending(container) == 0


def test_a_delivery_whose_record_expired_is_acknowledged_and_skipped(container: Container) -> None:
    (ref, other) = admit(container, 2)
    container.redis.delete(container.deliveries.key(ref))
    report = consumer(container).step()
    assert (report.read, report.handled) == (2, 1)
    assert statuses(container, [other]) == ["processed"] and pending(container) == 0

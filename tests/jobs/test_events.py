"""The event job drains a burst in batches: every delivery it takes off the queue is handled, and
what it leaves stays queued for a worker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq import SimpleWorker

from bot.core.events import Delivery, ImagePushed
from bot.deps import Container
from bot.errors import ConfigError
from bot.jobs import events, runtime
from bot.jobs.dequeue import recover_intermediate
from bot.jobs.sweep import EVENT_FUNC
from bot.settings import Settings
from bot.store import jobs

IMAGE = "ghcr.io/acme/web"


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
    runtime.install(built)
    yield built
    runtime.install(None)


def _admit(container: Container, n: int) -> list[str]:
    queue = container.queue("events")
    refs = []
    for i in range(n):
        delivery = Delivery(f"generic-{i}", "generic", "", (ImagePushed(IMAGE, f"1.{i}.0", None, "generic"),))
        refs.append(container.deliveries.admit(delivery, queue, EVENT_FUNC).ref)
    return refs


def test_a_drainer_at_its_batch_limit_leaves_nothing_taken_and_unhandled(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "BATCH_MAX", 1)  # one delivery per batch
    monkeypatch.setattr(events, "BATCHES_MAX", 3)
    refs = _admit(container, 6)
    queue = container.queue("events")
    container.redis.lpop(queue.key)  # a worker took the first job and runs it

    result = events.handle_delivery(refs[0])

    assert result["batch"] == 3
    statuses = [container.deliveries.by_ref(r).status for r in refs]  # type: ignore[union-attr]
    assert statuses == ["processed"] * 3 + ["queued"] * 3
    for ref in refs[3:]:  # each left behind is still a job a worker will run
        assert jobs.pending(queue, container.deliveries.job_id(ref)), ref
    group = "local:m:main:dev"
    assert container.scheduler.reconcile_state(group) == "queued"


def test_a_drainer_that_dies_mid_batch_leaves_its_taken_jobs_to_the_workers(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    refs = _admit(container, 4)
    queue = container.queue("events")
    container.redis.lpop(queue.key)

    def redis_gone(*_a: object, **_k: object) -> None:
        raise redis.ConnectionError("Redis went away mid-batch")

    monkeypatch.setattr(events, "apply_deliveries", redis_gone)
    with pytest.raises(redis.ConnectionError):
        events.handle_delivery(refs[0])

    for ref in refs[1:]:  # taken, not handled: in the intermediate list, where workers look
        job_id = container.deliveries.job_id(ref)
        assert jobs.pending(queue, job_id), ref
        assert container.redis.lpos(queue.intermediate_queue.key, job_id) is not None
    put_back = recover_intermediate(queue, stuck_s=0)  # what the workers' maintenance does
    assert sorted(put_back) == sorted(container.deliveries.job_id(r) for r in refs[1:])
    assert queue.job_ids == [container.deliveries.job_id(r) for r in refs[1:]]


def test_one_bad_delivery_fails_alone_and_the_burst_is_processed(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    refs = _admit(container, 6)
    bad = container.deliveries.get(refs[3])
    real = events.apply_deliveries

    def picky(store, config, deliveries, **kwargs):  # type: ignore[no-untyped-def]
        if any(d.events == bad.events for d in deliveries):  # type: ignore[union-attr]
            raise ConfigError("rules[0]: this delivery cannot be planned")
        return real(store, config, deliveries, **kwargs)

    monkeypatch.setattr(events, "apply_deliveries", picky)
    worker = SimpleWorker([container.queue("events")], connection=container.redis)
    worker.work(burst=True)

    statuses = [container.deliveries.by_ref(r).status for r in refs]  # type: ignore[union-attr]
    assert statuses == ["processed"] * 3 + ["failed"] + ["processed"] * 2
    assert "cannot be planned" in container.deliveries.by_ref(refs[3]).reason  # type: ignore[union-attr]
    assert container.intents.snapshot("local:m:main:dev").active  # the others were merged

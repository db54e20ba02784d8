"""The registry's jobs: asking again about versions waiting for their registry, and polling.

- ``retry_waiting(group_key)``: scheduled (rq ``enqueue_at``, on the reconcile queue) for when the
  group's next waiting version is due; admitted versions are merged as an event's are, the rest
  wait again or are given up (``bot.services.registry_gate``), and the next run is scheduled.
- ``retry_overdue()``: a periodic job (``bot.jobs.periodic``, every
  ``MANIFEST_BOT_SWEEP_INTERVAL_S``) for groups whose retry is overdue by more than a minute (its
  job died with a killed worker): they are asked now.
- ``poll_image(image)``: a periodic job per image whose rule has ``poll`` (``bot.services.poll``),
  never two runs of one image at once across workers.

Each asks the groups it touched to reconcile; none holds a repo lock while it asks a registry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.core.config.model import Config
from bot.jobs import runtime
from bot.jobs.periodic import PeriodicJob
from bot.services.poll import poll_image as poll
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.deps import Container

RETRY_FUNC = "bot.jobs.registry.retry_waiting"
OVERDUE_FUNC = "bot.jobs.registry.retry_overdue"
POLL_FUNC = "bot.jobs.registry.poll_image"
#: a group whose retry is this late has lost its job
OVERDUE_S = 60.0
#: groups asked per overdue run
MAX_OVERDUE = 100


def periodic_jobs(settings: Settings, config: Config | None) -> list[PeriodicJob]:
    """The overdue-retry safety net, and one poll job per polled image (``registry-poll:<image>``)."""
    jobs = [PeriodicJob("registry-wait", OVERDUE_FUNC, settings.sweep_interval_s)]
    if config is not None:
        for image, configured in sorted(config.poll_intervals().items()):
            every = settings.poll_interval_s or configured
            jobs.append(PeriodicJob(f"registry-poll:{image}", POLL_FUNC, every, {"image": image}))
    return jobs


def schedule_retries(container: Container, retry_at: Mapping[str, float]) -> list[str]:
    """One ``retry_waiting`` job per group at the time given (job ids are unique per group and
    second, so a group asked twice for the same moment gets one job)."""
    queue = container.queue("reconcile")
    prefix = container.settings.redis_prefix
    ids = []
    for group_key, at in sorted(retry_at.items()):
        ident = hashlib.sha1(group_key.encode(), usedforsecurity=False).hexdigest()[:12]
        job_id = f"{prefix}-registry-wait-{ident}-{int(at)}"
        queue.enqueue_at(
            datetime.fromtimestamp(at, UTC),
            RETRY_FUNC,
            kwargs={"group_key": group_key},
            job_id=job_id,
            description=f"registry wait {group_key}",
            result_ttl=3600,
            failure_ttl=24 * 3600,
        )
        ids.append(job_id)
    return ids


def retry_waiting(group_key: str) -> dict[str, Any]:
    container = runtime.current()
    outcome = container.registry_gate.retry(group_key)
    _, dirty = container.intents.merge_dirty(outcome.ready)
    groups = set(dirty) | set(container.settle(outcome))
    for group in sorted(groups):
        container.scheduler.request_reconcile(group)
    return {
        "group": group_key,
        "admitted": len(outcome.ready),
        "waiting": outcome.waiting,
        "failed": len(outcome.failures),
        "registry_lookups": outcome.asked,
    }


def retry_overdue() -> dict[str, int]:
    container = runtime.current()
    now = container.clock()
    late = [g for g, at in container.waiting.groups(MAX_OVERDUE) if at <= now - OVERDUE_S]
    for group_key in late:
        retry_waiting(group_key)
    return {"groups_retried": len(late)}


def poll_image(image: str) -> dict[str, Any]:
    container = runtime.current()
    out = poll(
        image,
        config=container.config,
        registry=container.registry,
        gate=container.registry_gate,
        intents=container.intents,
        polls=container.polls,
        now=container.clock(),
    )
    for group in sorted(set(out.groups) | set(container.settle(out.gate))):
        container.scheduler.request_reconcile(group)
    return {"image": out.image, **out.counts()}

"""The registry's jobs: asking again about versions waiting for their registry, and polling.

- ``retry_waiting(group_key)``: queued by the leader when the group's next waiting version is due
  (``<prefix>:waiting-groups``, ``bot.store.waiting``); admitted versions are merged as an event's
  are, the rest wait again or are given up (``bot.services.registry_gate``).
- ``poll_images(images)``: queued by the leader for a batch of images whose poll is due
  (``bot.services.poll``: the whole batch in a few Redis round trips, one registry request per
  image).

Each asks the groups it touched to reconcile; none holds a repo lock while it asks a registry.
"""

from __future__ import annotations

from typing import Any

from bot.jobs import runtime
from bot.services.poll import poll_images as poll_batch
from bot.services.poll import reached


def retry_waiting(group_key: str) -> dict[str, Any]:
    container = runtime.current()
    container.config_reloads.refresh()
    outcome = container.registry_gate.retry(group_key)
    _, dirty = container.intents.merge_dirty(outcome.ready)
    groups = set(dirty) | set(container.admission.settle(outcome))
    for group in sorted(groups):
        container.dispatch.request_reconcile(group)
    return {
        "group": group_key,
        "admitted": len(outcome.ready),
        "waiting": outcome.waiting,
        "failed": len(outcome.failures),
        "registry_lookups": outcome.asked,
    }


def poll_images(images: list[str]) -> dict[str, Any]:
    container = runtime.current()
    container.config_reloads.refresh()
    # planned as a pushed event is: with the own file of every manifest repo the images reach
    config = container.config_source.for_targets(reached(container.config, images))
    batch = poll_batch(
        images,
        config=config,
        registry=container.registry,
        gate=container.registry_gate,
        intents=container.intents,
        polls=container.polls,
        now=container.clock(),
        deliveries=container.deliveries,
    )
    for group in sorted(set(batch.groups) | set(container.admission.settle(batch.gate()))):
        container.dispatch.request_reconcile(group)
    return batch.counts()

"""The periodic resync job (``bot.jobs.periodic``, every ``MANIFEST_BOT_RESYNC_INTERVAL_S``).

Each run takes the next ``MANIFEST_BOT_RESYNC_BATCH`` groups (in key order, going on where the
last run stopped, wrapping round) and, for those groups:

1. observes each again on the forge (``bot.services.resync``): base moved without a push → bump
   and reconcile; PR merged or closed without an event → handled as the event would be; a group
   Redis has no record of → rebuilt from its PR's marker. The groups are those Redis knows and
   those the routing config names, so a FLUSHALL is repaired even for groups nothing happens to;
2. makes sure every group left dirty has its safety-net entry (``due:reconcile``), so the leader
   asks again for it whatever happened to the request that made it dirty.

Bounded: at most two forge requests per group, one base read per repository and branch.
"""

from __future__ import annotations

from typing import Any

from bot.core.keys import GroupKey
from bot.jobs import runtime
from bot.services.reconcile import lock_for
from bot.services.resync import ResyncDeps, resync_groups
from bot.store.recovery import RecoveryStore, next_batch


def resync() -> dict[str, Any]:
    container = runtime.current()
    settings = container.settings
    dispatch = container.dispatch
    store = RecoveryStore(container.redis, settings)
    config = container.config_or_none()
    configured = [str(k) for k in config.group_keys()] if config is not None else []
    known = sorted({*container.intents.groups.all_keys(), *configured})
    batch = next_batch(known, store.cursor("resync"), settings.resync_batch)
    store.set_cursor("resync", batch[-1] if batch else None)
    deps = ResyncDeps(
        intents=container.intents,
        forge_for=container.forge,
        lock_for=lambda group_key: lock_for(container.reconcile_deps, GroupKey.parse(group_key)),
        request_reconcile=dispatch.request_reconcile,
        wake=dispatch.wake,
        bot_login=settings.bot_login,
        branches_of=lambda group_key: config.branches_of(GroupKey.parse(group_key)) if config else (),
    )
    counts: dict[str, Any] = {"groups": len(batch), **resync_groups(deps, batch)}
    unsure = [g for g in batch if container.intents.dirty(g) and dispatch.reconciles.when(g) is None]
    dispatch.reconciles.soonest(dict.fromkeys(unsure, container.clock()))
    counts["dirty_requeued"] = len(unsure)
    return counts

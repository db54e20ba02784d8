"""The resync: notice, per group, what changed on the forge without a webhook telling us.

A missed ``push`` leaves a PR on a stale base; a missed ``pull_request closed`` leaves a merged
PR's intents active (the next PR would re-apply them) or a person's "no" unheard. For each group
of a batch (``resync_groups``), under the repo lock (skipped while someone else holds it: that
holder is reconciling the repo right now):

- its open PR, read again (one request): merged or closed → handled exactly as the event would
  (``bot.services.events.pr_closed``: clear what it satisfied, or ignore its versions);
- its base branch head (one request per repository and branch per run) against the head its last
  reconcile built on (``GroupRecord.base_sha``): moved → the group's generation is bumped, so the
  reconcile observes again and regenerates a stale branch.

Groups with neither an open PR nor an active intent have nothing to observe and cost nothing. A
group Redis has no record of (a FLUSHALL, a new Redis: the batch also walks the routing config's
groups) is looked for on its branches and rebuilt from the marker of its newest PR
(``bot.services.rebuild``), or recorded as having none, so it is looked for once; one whose
intents wait for a reconcile is left to it (``pending``: it rebuilds first, under the lock). A
group that changed is asked to reconcile (``request_reconcile``, coalesced as always).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.core.ports import Forge
from bot.errors import BotError
from bot.metrics import RESYNC
from bot.services.events import pr_closed
from bot.services.rebuild import rebuild_from_forge
from bot.store.groups import GroupRecord
from bot.store.intents import IntentStore
from bot.store.locks import RepoLock

log = logging.getLogger(__name__)

Heads = dict[tuple[str, str, str], str | None]


@dataclass
class ResyncDeps:
    intents: IntentStore
    forge_for: Callable[[str], Forge]
    lock_for: Callable[[str], RepoLock]
    request_reconcile: Callable[[str], object]
    wake: Callable[[list[str]], None]
    bot_login: str
    #: the head branches the routing config gives a group (where its PR is looked for)
    branches_of: Callable[[str], Sequence[str]] = lambda _group_key: ()


def resync_groups(deps: ResyncDeps, group_keys: Sequence[str]) -> dict[str, int]:
    """Observe each group again (see the module docstring); counts of what was found."""
    kinds = ("observed", "busy", "pending", "base_moved", "pr_merged", "pr_closed", "rebuilt", "errors")
    counts = dict.fromkeys(kinds, 0)
    heads: Heads = {}
    for group_key in group_keys:
        if _rebuilt_by_its_reconcile(deps, group_key):
            counts["pending"] += 1
            continue
        lock = deps.lock_for(group_key)
        if not lock.acquire(heartbeat=False):
            counts["busy"] += 1
            continue
        try:
            found = _resync_one(deps, group_key, heads)
        except BotError as exc:
            counts["errors"] += 1
            log.warning("resync of %s: %s", group_key, exc)
            found = None
        finally:
            deps.wake(lock.release())
        if found is None:
            continue
        counts["observed"] += 1
        if found:
            counts[found] += 1
            RESYNC.labels(kind=found).inc()
            deps.request_reconcile(group_key)
    return counts


def _rebuilt_by_its_reconcile(deps: ResyncDeps, group_key: str) -> bool:
    """A group Redis has no record of whose intents wait for a reconcile: that reconcile looks
    for its PR and rebuilds it first (``sync_group(rebuild=True)``), under the lock, in the
    request it makes anyway; looking here too would cost a request and hold the lock it needs."""
    return not deps.intents.groups.get(group_key).known and deps.intents.dirty(group_key)


def _resync_one(deps: ResyncDeps, group_key: str, heads: Heads) -> str:
    """What changed for one group ("" when nothing did)."""
    record = deps.intents.groups.get(group_key)
    if not record.known:
        forge = deps.forge_for(record.forge)
        branches = deps.branches_of(group_key)
        return "rebuilt" if rebuild_from_forge(deps.intents, forge, group_key, branches) == "rebuilt" else ""
    if record.pr_number is None and not deps.intents.snapshot(group_key).active:
        return ""
    forge = deps.forge_for(record.forge)
    if record.pr_number is not None:
        pr = forge.get_pr(record.repo, record.pr_number)
        if pr.state in ("merged", "closed"):
            merged = pr.state == "merged"
            handled = pr_closed(
                deps.intents,
                group_key,
                record.pr_number,
                merged=merged,
                closed_by=None,
                bot_login=deps.bot_login,
            )
            if handled:
                log.info("resync: %s#%s was %s without an event", record.repo, record.pr_number, pr.state)
                return "pr_merged" if merged else "pr_closed"
    return "base_moved" if _base_moved(deps, forge, record, heads) else ""


def _base_moved(deps: ResyncDeps, forge: Forge, record: GroupRecord, heads: Heads) -> bool:
    where = (record.forge, record.repo, record.base_branch)
    if where not in heads:
        heads[where] = forge.branch_head(record.repo, record.base_branch)
    head = heads[where]
    if head is None or head == record.base_sha:
        return False
    log.info("resync: %s@%s moved to %s without a push event", record.repo, record.base_branch, head[:12])
    deps.intents.bump(record.group_key)
    return True

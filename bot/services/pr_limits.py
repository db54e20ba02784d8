"""``pr.limits`` before a reconcile: may the group open its PR now, or does it wait its turn?

Asked by ``bot.services.reconcile.reconcile`` under the repo lock (one writer per repo, so the
count cannot race another opening of the bot's) for automatic reconciles only: a person's
chat-ops command acts at once. Only a group with versions to write and no open PR is limited;
its place in the repo's line and why it waits are recorded (``GroupRecord.limited``: the status
page, ``/api/groups``, ``manifest-bot status``). Groups that left the line's reason behind (they
got a PR, or have nothing to write any more) are taken out of it, so they hold no one up.
"""

from __future__ import annotations

from bot.core.config import Config
from bot.core.keys import GroupKey
from bot.core.pr_limits import Limits, Verdict, decide
from bot.store.groups import GroupStore
from bot.store.intents import IntentStore
from bot.store.pr_slots import PrSlots


def limits_of(config: Config | None, group_key: str) -> Limits | None:
    if config is None:
        return None
    options = config.pr_for_group(GroupKey.parse(group_key))
    return options.limits if options.mode == "pr" else None


def assess(
    config: Config | None,
    group_key: str,
    *,
    groups: GroupStore,
    intents: IntentStore,
    slots: PrSlots,
    now: float,
    wants: bool | None = None,
) -> tuple[Verdict | None, list[str]]:
    """What ``verdict`` decides, writing nothing (``explain --at`` asks it too): the verdict (None:
    no limit applies) and the groups of the line that no longer wait. ``wants``: whether the group
    has versions to write (default: whether it is dirty)."""
    limits = limits_of(config, group_key)
    key = GroupKey.parse(group_key)
    wants = intents.dirty(group_key) if wants is None else wants
    if limits is None or groups.get(group_key).pr_number is not None or not wants:
        return None, []
    records = groups.get_many(groups.groups_of(key.forge, key.repo))
    open_prs = sum(1 for r in records.values() if r.pr_number is not None)
    line, stale = [], []
    for waiting in slots.line(key.forge, key.repo):
        other = records.get(waiting)
        still = waiting == group_key or (
            other is not None and other.pr_number is None and intents.dirty(waiting)
        )
        (line if still else stale).append(waiting)
    openings = slots.openings(key.forge, key.repo, now)
    found = decide(limits, key.repo, group_key, open_prs=open_prs, opened=openings, line=line, now=now)
    return found, stale


def verdict(
    config: Config | None,
    group_key: str,
    *,
    groups: GroupStore,
    intents: IntentStore,
    slots: PrSlots,
    now: float,
) -> Verdict | None:
    """None when no limit applies to the group now; else whether it may open its PR (a waiting
    group joins the line and has its reason recorded; one that may go has it cleared)."""
    if limits_of(config, group_key) is None:  # nothing to read or record (a reason a limit since
        return None  # removed left on the group goes with the write that opens its PR)
    found, stale = assess(config, group_key, groups=groups, intents=intents, slots=slots, now=now)
    key = GroupKey.parse(group_key)
    slots.leave(key.forge, key.repo, *stale)
    limited = groups.get(group_key).limited
    if found is None or found.go:
        if limited is not None:
            groups.set_fields(group_key, limited=None)
            if found is None:
                slots.leave(key.forge, key.repo, group_key)
        return found
    slots.join(key.forge, key.repo, group_key, now)
    if limited != found.reason:
        groups.set_fields(group_key, limited=found.reason)
    return found

"""Rebuild a group's Redis state from its PR (after a FLUSHALL, a lost or a new Redis).

Redis is the working copy; what people decided lives also in the hidden marker of the bot's PR
(``bot.core.kept``), written in the same reconcile or command that changed it. A group whose
record Redis does not have is rebuilt from the marker of its open PR before anything writes a
record for it:

- by the first reconcile (``bot.services.reconcile``: the sync finds the PR anyway and hands its
  decisions back instead of writing);
- by the first command on its PR (``bot.services.chatops.runner``);
- by the resync (``bot.services.resync``), which also walks the groups of the routing config,
  so a group nothing happens to is rebuilt too.

The PR read is the group's open one, else the newest of its branch (merged or closed: the pins,
ignores and hold it kept still hold for the group; its chat-ops intents and comments do not
carry over). Only the bot's own PR counts (the forge says the bot opened it, on one of the
group's branches, and its marker names the group); a refused marker is logged and rebuilds
nothing. The record is
written only while the group still has none (``GroupStore.adopt``), the chat-ops intents are put
back as if Redis had never forgotten them (``IntentStore.restore``), and the group's generation
moves on, so the next reconcile looks again with what was restored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace

from bot.core.kept import Decisions, Ran
from bot.core.keys import GroupKey
from bot.core.marker import marker_prefix
from bot.core.ports import Forge, PullRequest
from bot.services.lifecycle import kept_decisions
from bot.store.groups import GroupRecord
from bot.store.intents import IntentStore

log = logging.getLogger(__name__)


def restore(
    intents: IntentStore, group_key: str, pr: PullRequest | None, decisions: Decisions | None
) -> bool:
    """Write the group's record from ``decisions`` kept on ``pr`` (unless a record appeared
    meanwhile) and put its asked intents back; True when the group was rebuilt."""
    if pr is None or decisions is None:
        return False
    is_open = pr.state == "open"
    if not is_open:  # what it asked for merged or was turned down; its comments are its own
        decisions = replace(decisions, asked=(), ran=Ran())
    record = GroupRecord(
        group_key,
        state=decisions.state(),
        pr_number=pr.number if is_open else None,
        pr_url=pr.url if is_open else None,
        head_branch=pr.head_branch,
        ran=decisions.ran,
    )
    if not intents.groups.adopt(record):
        log.info("%s has a record again; nothing rebuilt from PR #%s", group_key, pr.number)
        return False
    intents.restore(group_key, decisions.asked, decisions.state())
    log.warning(
        "rebuilt %s from the marker of PR #%s: %d pins, %d ignores, hold %s, %d chat-ops intents, "
        "%d comments that ran",
        group_key,
        pr.number,
        len(decisions.pinned),
        len(decisions.ignored),
        decisions.hold,
        len(decisions.asked),
        len(decisions.ran.ids),
    )
    return True


def rebuild_from_forge(intents: IntentStore, forge: Forge, group_key: str, branches: Iterable[str]) -> str:
    """For a group Redis has no record of: find the newest PR of each of its branches (its open
    PR, if it has one) and rebuild from its marker. "rebuilt", or "none": then an empty record is
    written, so the group is not looked for again until Redis forgets it once more."""
    key = GroupKey.parse(group_key)
    for branch in dict.fromkeys(branches):
        pr = forge.last_pr(key.repo, branch, marker_prefix(group_key))
        if pr is None:
            continue
        if restore(intents, group_key, pr, kept_decisions(forge, pr, group_key)):
            return "rebuilt"
    intents.groups.adopt(GroupRecord(group_key))
    return "none"

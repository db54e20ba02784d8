"""What chat-ops remembers where it outlives Redis: the comments whose commands ran, in the
marker of the PR they were written on, and the group's decisions, rebuilt from its PR's marker
when Redis lost them (``bot.services.rebuild``).

Per comment, under the repo lock, the runner:

1. rebuilds the group when Redis does not know it (``rebuild_if_forgotten``): from the PR the
   comment is on when it is open (no extra forge call), else from the newest PR of the group's
   branch;
2. skips the comment when the PR's marker says its commands already ran (``already_ran``): a
   redelivery after a FLUSHALL is a no-op, no second run, no second reply;
3. notes the comment on the group's record (``note_ran``), so a reconcile the commands run writes
   it into the marker with their effect;
4. after the commands, makes sure the marker says so (``record_ran``): nothing when their
   reconcile already wrote it, else one body update (a command that reconciled nothing, a
   comment on a merged PR). A group without an open PR keeps its decisions in the newest PR of
   its branch, so a comment that changed them there writes them into that PR too.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from bot.core.kept import Decisions
from bot.core.marker import marker_prefix, parse_marker, replace_marker
from bot.core.ports import PrUpdate, PullRequest
from bot.errors import BotError
from bot.services.chatops.context import Context, Reconciler
from bot.services.chatops.provenance import group_branches
from bot.services.lifecycle import kept_decisions
from bot.services.rebuild import rebuild_from_forge, restore
from bot.store.groups import GroupRecord

log = logging.getLogger(__name__)


def rebuild_if_forgotten(ctx: Context) -> None:
    key, pr = ctx.group_key, ctx.pr
    if key is None or ctx.deps.groups.get(key).known:
        return
    if pr is not None and pr.state == "open":
        restore(ctx.deps.intents, key, pr, kept_decisions(ctx.deps.forge, pr, key))
    else:
        rebuild_from_forge(ctx.deps.intents, ctx.deps.forge, key, sorted(group_branches(ctx.deps, key)))


def already_ran(ctx: Context) -> bool:
    """The bot's PR (or the group's record) says this comment's commands ran."""
    if ctx.group_key is None or ctx.pr is None:
        return False
    comment = ctx.event.comment_id
    marker = parse_marker(ctx.pr.body)
    kept = marker.decisions if marker is not None and marker.group == ctx.group_key else None
    if kept is not None and kept.ran.has(comment):
        return True
    record = ctx.deps.groups.get(ctx.group_key)
    return record.pr_number == ctx.event.pr_number and record.ran.has(comment)


def note_ran(ctx: Context) -> None:
    """Note the comment on the group's record when it is on the group's open PR."""
    if ctx.group_key is None:
        return
    number, comment = ctx.event.pr_number, ctx.event.comment_id
    record = ctx.deps.groups.get(ctx.group_key)
    if record.pr_number != number or record.ran.has(comment):
        return

    def add(rec: GroupRecord) -> GroupRecord:
        return dataclasses.replace(rec, ran=rec.ran.add(comment)) if rec.pr_number == number else rec

    ctx.deps.groups.update(ctx.group_key, add)


def noting(reconcile: Reconciler, seen: list[str]) -> Reconciler:
    """``reconcile`` that notes the groups it ran for (their PR bodies may have changed)."""

    def run(group_key: str, *, force: bool = False, recreate: bool = False) -> None:
        seen.append(group_key)
        reconcile(group_key, force=force, recreate=recreate)

    return run


def decided(ctx: Context) -> Decisions | None:
    """The group's pins, ignores and hold now (to tell afterwards whether a comment changed them)."""
    if ctx.group_key is None:
        return None
    return Decisions.of(ctx.deps.groups.get(ctx.group_key).state)


def record_ran(ctx: Context, *, fresh: bool, before: Decisions | None) -> None:
    """Make the marker of the comment's PR say its commands ran (read again when ``fresh``: a
    reconcile may have rewritten it). On the group's open PR the marker gets all the group's
    decisions; on another PR only the comment, and when the group has no open PR and the comment
    changed its pins, ignores or hold, the newest PR of the group's branch (where a rebuild reads
    them) gets those too. A forge error is logged: Redis still remembers the run."""
    key, pr = ctx.group_key, ctx.pr
    if key is None or pr is None:
        return
    deps, comment = ctx.deps, ctx.event.comment_id
    try:
        if fresh:
            pr = deps.forge.get_pr(ctx.event.repo, pr.number)
        record = deps.groups.get(key)
        if pr.state == "open" and record.pr_number == pr.number:
            snap = deps.intents.snapshot(key)
            now = Decisions.of(record.state, snap.active.values(), snap.marks, record.ran.add(comment))
            _keep(ctx, pr, lambda kept: now.with_ran(kept.ran))
            return
        state = Decisions.of(record.state)
        newest = _newest(ctx, key) if record.pr_number is None and state != before else None
        if newest is not None and newest.number != pr.number:
            _keep(ctx, newest, lambda kept: _with_state(kept, state))
        same = newest is not None and newest.number == pr.number

        def mine(kept: Decisions) -> Decisions:
            kept = _with_state(kept, state) if same else kept
            return dataclasses.replace(kept, ran=kept.ran.add(comment))

        _keep(ctx, pr, mine)
    except BotError as exc:
        log.warning("cannot record comment %s on %s#%s as run: %s", comment, ctx.event.repo, pr.number, exc)


def _with_state(kept: Decisions, state: Decisions) -> Decisions:
    return dataclasses.replace(kept, pinned=state.pinned, ignored=state.ignored, hold=state.hold)


def _newest(ctx: Context, key: str) -> PullRequest | None:
    for branch in sorted(group_branches(ctx.deps, key)):
        pr = ctx.deps.forge.last_pr(ctx.event.repo, branch, marker_prefix(key))
        if pr is not None:
            return pr
    return None


def _keep(ctx: Context, pr: PullRequest, change: Callable[[Decisions], Decisions]) -> None:
    """Write ``change(decisions kept in pr's marker)`` into the marker, when it changes them."""
    marker = parse_marker(pr.body)
    if marker is None or marker.group != ctx.group_key:
        log.info("PR #%s has no marker of %s to keep its decisions in", pr.number, ctx.group_key)
        return
    kept = marker.decisions or Decisions()
    wanted = change(kept)
    if wanted == kept and marker.refused is None:
        return
    new = dataclasses.replace(marker, decisions=wanted, refused=None)
    ctx.deps.forge.update_pr(ctx.event.repo, pr.number, PrUpdate(body=replace_marker(pr.body, new)))

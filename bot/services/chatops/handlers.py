"""The chat-ops handler table: one function per command kind, dispatched exhaustively.

Each handler gets the comment's context (forge, PR, group, actor) and returns an ``Outcome``.
Group flags (hold, ignores, pins) live in the group's ``GroupState`` in Redis; the PR lifecycle
service reads them on the next reconcile, which the handler runs at once (the command job already
holds the repo lock), so the PR shows the change when the 🚀 appears.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import assert_never

from bot.core.chatops.commands import Command, CommandKind
from bot.core.chatops.decisions import Refusal
from bot.core.chatops.replies import (
    Outcome,
    StatusView,
    TargetStatus,
    help_text,
    not_our_pr_text,
    status_text,
)
from bot.core.ports import MergeMethod
from bot.core.wanted import standings
from bot.errors import Conflict
from bot.services.chatops import versions
from bot.services.chatops.context import Context, done, environment, group_key, reconcile, update_state

Handler = Callable[[Context, Command], Outcome]


def run_command(ctx: Context, command: Command) -> Outcome:
    try:
        if command.kind is not CommandKind.HELP and ctx.group_key is None:
            return Outcome(command, False, not_our_pr_text(command, ctx.not_ours))
        return handler_for(command.kind)(ctx, command)
    except Refusal as exc:
        return Outcome(command, False, str(exc))


def handler_for(kind: CommandKind) -> Handler:
    match kind:
        case CommandKind.HELP:
            return _help
        case CommandKind.STATUS:
            return _status
        case CommandKind.REBASE:
            return _rebase
        case CommandKind.RECREATE:
            return _recreate
        case CommandKind.RETRY:
            return _retry
        case CommandKind.HOLD:
            return _hold
        case CommandKind.UNHOLD:
            return _unhold
        case CommandKind.MERGE | CommandKind.SQUASH_MERGE:
            return _merge
        case CommandKind.CANCEL_MERGE:
            return _cancel_merge
        case CommandKind.CLOSE:
            return _close
        case CommandKind.REOPEN:
            return _reopen
        case CommandKind.IGNORE:
            return versions.ignore
        case CommandKind.UNIGNORE:
            return versions.unignore
        case CommandKind.PIN:
            return versions.pin
        case CommandKind.UNPIN:
            return versions.unpin
        case CommandKind.PROMOTE:
            return versions.promote
        case CommandKind.ROLLBACK:
            return versions.rollback
        case _:
            assert_never(kind)


# --- read-only ---------------------------------------------------------------------------------
def _help(ctx: Context, command: Command) -> Outcome:
    return Outcome(
        command,
        True,
        "here is what I understand:",
        (help_text(ctx.deps.prefix, ctx.deps.policy),),
        speak=True,
    )


def _status(ctx: Context, command: Command) -> Outcome:
    key = group_key(ctx)
    record = ctx.deps.groups.get(key)
    snapshot = ctx.deps.intents.snapshot(key)
    state = record.state
    targets = [  # as the status page shows them (bot.core.wanted.standings)
        TargetStatus(s.image, s.wanted or None, s.in_branch or None, s.pinned or None)
        for s in standings(snapshot.active, record.holds if record.pr_number is not None else {}, state)
    ]
    queue = ctx.deps.queue_state(key)
    if queue == "idle" and snapshot.dirty:
        queue = "pending"
    env = environment(ctx)
    chain = ctx.deps.chain_for(record.group)
    view = StatusView(
        group=record.group,
        environment=env,
        held=state.hold,
        targets=tuple(targets),
        ignored=tuple(m.label or f"`{m.image}`" for m in state.ignored),
        queue=queue,
        last_error=state.last_error,
        promotes_to=versions.next_env(chain, env),
    )
    return Outcome(command, True, "here is where this group stands:", (status_text(view),), speak=True)


# --- branch ------------------------------------------------------------------------------------
def _rebase(ctx: Context, command: Command) -> Outcome:
    ctx.deps.groups.set_fields(group_key(ctx), blocked=None)
    return done(command, "regenerated the branch on the current base", reconcile(ctx, force=True))


def _recreate(ctx: Context, command: Command) -> Outcome:
    ctx.deps.groups.set_fields(group_key(ctx), blocked=None)
    return done(command, "rebuilt the branch and the PR from scratch", reconcile(ctx, recreate=True))


def _retry(ctx: Context, command: Command) -> Outcome:
    update_state(ctx, lambda s: dataclasses.replace(s, last_error=None))
    ctx.deps.groups.set_fields(group_key(ctx), error_commented=None)
    return done(command, "ran the update again", reconcile(ctx, force=True))


def _hold(ctx: Context, command: Command) -> Outcome:
    update_state(ctx, lambda s: dataclasses.replace(s, hold=True))
    pr = ctx.pr
    if pr is not None and pr.state == "open":
        ctx.deps.forge.disable_auto_merge(ctx.event.repo, pr.number)
    return done(command, "held: no automatic updates or merges until `unhold`", reconcile(ctx))


def _unhold(ctx: Context, command: Command) -> Outcome:
    update_state(ctx, lambda s: dataclasses.replace(s, hold=False))
    return done(command, "released: updates resume", reconcile(ctx))


# --- PR state ----------------------------------------------------------------------------------
def _open_pr(ctx: Context, command: Command) -> int:
    pr = ctx.pr
    if pr is None or pr.state != "open":
        raise Refusal(f"`{command.kind.value}` needs an open pull request; this one is {pr and pr.state}")
    return pr.number


def _merge(ctx: Context, command: Command) -> Outcome:
    number = _open_pr(ctx, command)
    if ctx.deps.groups.get(group_key(ctx)).state.hold:
        return Outcome(command, False, "this PR is held; `unhold` it first")
    # `merge` merges the way the config says the group's PRs merge; `squash and merge` is explicit
    configured = ctx.deps.pr_options(group_key(ctx)).merge_method
    method: MergeMethod = "squash" if command.kind is CommandKind.SQUASH_MERGE else configured
    forge, repo, pr = ctx.deps.forge, ctx.event.repo, ctx.pr
    if pr is not None and pr.mergeable:
        try:
            if forge.merge_pr(repo, number, method, pr.head_sha):
                _merged(ctx, number)
                return Outcome(command, True, "merged")
        except Conflict:
            pass  # the head moved or checks are pending: fall back to auto-merge
    if forge.enable_auto_merge(repo, number, method):
        return Outcome(command, True, "auto-merge is on: it merges when the checks pass", speak=True)
    if ctx.deps.schedule_auto_merge is not None:
        ctx.deps.schedule_auto_merge(repo, number, method)
        return Outcome(
            command,
            True,
            "no pipeline for the head yet; I will turn auto-merge on once it exists",
            speak=True,
        )
    return Outcome(command, False, "this PR cannot be merged now and the forge does not allow auto-merge")


def _merged(ctx: Context, number: int) -> None:
    """What the forge's "merged" webhook would do, at once (the local forge sends none; for the
    others the later event finds the PR already forgotten and does nothing twice)."""
    key = group_key(ctx)
    record = ctx.deps.groups.get(key)
    if record.pr_number != number:
        return
    ctx.deps.intents.clear(key, record.applied, merged=True)
    ctx.deps.groups.update(
        key,
        lambda rec: dataclasses.replace(
            rec, pr_number=None, applied={}, held={}, error_commented=None, blocked=None
        ),
    )
    ctx.deps.intents.bump(key)


def _cancel_merge(ctx: Context, command: Command) -> Outcome:
    number = _open_pr(ctx, command)
    ctx.deps.forge.disable_auto_merge(ctx.event.repo, number)
    if ctx.deps.cancel_auto_merge is not None:
        ctx.deps.cancel_auto_merge(ctx.event.repo, number)
    return Outcome(command, True, "auto-merge is off")


def _close(ctx: Context, command: Command) -> Outcome:
    number = _open_pr(ctx, command)
    # like a person closing the PR: these versions stay ignored until a newer one arrives
    versions.ignore_for_close(ctx)
    ctx.deps.forge.close_pr(ctx.event.repo, number)
    return Outcome(command, True, "closed; its versions stay ignored until a newer one arrives or `reopen`")


def _reopen(ctx: Context, command: Command) -> Outcome:
    pr = ctx.pr
    if pr is None or pr.state != "closed":
        raise Refusal("`reopen` needs a closed (not merged) pull request")
    versions.forget_close_ignores(ctx)
    ctx.deps.forge.reopen_pr(ctx.event.repo, pr.number)
    return done(command, "reopened", reconcile(ctx, force=True))

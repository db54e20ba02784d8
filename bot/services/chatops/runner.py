"""Run the commands of one PR comment (the imperative shell around ``bot.core.chatops``).

``run_comment`` is called by the command job while it holds the manifest repo's lock (the same
lock reconcile takes), so a command and an automatic update never interleave. Per comment it:

1. parses the comment (the bot's and other bots' comments, quotes and code are ignored), folds
   commands a later line undoes and takes at most ``MAX_COMMANDS`` lines (``bot.core.chatops.fold``);
2. reacts 👀 (done by the job before it waits for the lock, so people see they were heard);
3. reads the PR from the forge and acts only when the forge says the bot opened it on its group's
   branch (``bot.services.chatops.provenance``; the hidden marker is never an authority); a group
   Redis lost is rebuilt from the PR's marker, and a comment the marker records as run is not
   run again (``bot.services.chatops.memory``);
4. authorises every command against each group it will change, with the author's permission
   read from the forge *now* on that group's repository (``bot.services.chatops.rights``); a
   comment whose authorised commands may open or close the PR takes one of the group's hourly
   allowance (``bot.store.churn``), and when none is left those commands are refused;
5. runs the commands in order through the handler table (``bot.services.chatops.handlers``);
6. records the comment as run in the PR's marker (when the commands' reconcile did not already);
7. reacts 🚀 when all succeeded, 😕 otherwise, and replies when there is something to say
   (help, status, a refusal or failure with its reason, unknown commands, waiting for the lock);
   the reply passes the one redaction (``bot.logs.redact``) on its way out. What the commands'
   reconciles say on this PR (why it closed, an error) is posted after the reply
   (``bot.services.chatops.held``), so the PR reads in the order people acted.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.core.chatops.authz import Actor, Decision
from bot.core.chatops.commands import Command, CommandKind, ParsedComment, parse_comment
from bot.core.chatops.decisions import Refusal
from bot.core.chatops.fold import bounded
from bot.core.chatops.replies import (
    Outcome,
    bounds_text,
    churn_text,
    not_our_pr_text,
    refused_text,
    reply_text,
    unknown_text,
)
from bot.core.events import PrComment
from bot.core.ports import Permission, PullRequest, Reaction
from bot.errors import BotError, NotFound
from bot.logs import redact
from bot.services.chatops import memory
from bot.services.chatops.context import ChatopsDeps, Context
from bot.services.chatops.handlers import run_command
from bot.services.chatops.provenance import provenance
from bot.services.chatops.rights import authorise

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CommentResult:
    parsed: ParsedComment
    outcomes: tuple[Outcome, ...] = ()
    reply: str | None = None
    reply_id: str | None = None
    #: the PR's marker says the comment's commands already ran: nothing was done
    already: bool = False

    @property
    def ok(self) -> bool:
        return not self.parsed.unknown and not self.parsed.over_limit and all(o.ok for o in self.outcomes)


def parse(deps: ChatopsDeps, event: PrComment) -> ParsedComment:
    """The comment's commands, folded and cut to the per-comment limit (``bot.core.chatops.fold``)."""
    return bounded(
        parse_comment(
            event.body,
            author=event.author,
            author_is_bot=event.author_is_bot,
            prefix=deps.prefix,
            bot_login=deps.bot_login or deps.forge.info.bot_login,
        )
    )


def acknowledge(deps: ChatopsDeps, event: PrComment) -> None:
    """👀 on the comment; a reaction that fails must not stop the command."""
    _react(deps, event, Reaction.SEEN)


def _react(deps: ChatopsDeps, event: PrComment, reaction: Reaction) -> None:
    try:
        deps.forge.react(event.repo, event.pr_number, event.comment_id, reaction)
    except BotError as exc:
        log.warning("cannot react %s on %s#%s: %s", reaction.value, event.repo, event.pr_number, exc)


def run_comment(
    deps: ChatopsDeps, event: PrComment, *, parsed: ParsedComment | None = None, waited_s: float | None = None
) -> CommentResult:
    """Run every command in the comment (see the module docstring). Never raises for a user's
    mistake or a refusal; forge errors of a single command become that command's failure."""
    parsed = parsed or parse(deps, event)
    if not parsed.items:
        return CommentResult(parsed)
    reconciled: list[str] = []
    deps = dataclasses.replace(deps, reconcile=memory.noting(deps.reconcile, reconciled))
    ctx = _context(deps, event)
    memory.rebuild_if_forgotten(ctx)
    if memory.already_ran(ctx):
        log.info(
            "comment %s on %s#%s already ran (its PR says so)", event.comment_id, event.repo, event.pr_number
        )
        return CommentResult(parsed, already=True)
    memory.note_ran(ctx)
    before = memory.decided(ctx)
    churn = _ChurnBudget(ctx)
    if deps.held is not None:  # what the commands' reconciles say on this PR comes after the reply
        deps.held.hold(deps.forge_name, event.repo, event.pr_number)
    try:
        outcomes = [_authorised_run(ctx, command, churn) for command in parsed.commands]
        memory.record_ran(ctx, fresh=bool(reconciled), before=before)
        reply = _reply(deps, parsed, outcomes, waited_s)
        reply_id = deps.forge.comment(event.repo, event.pr_number, redact(reply)) if reply else None
    finally:
        if deps.held is not None:
            deps.held.release()
    result = CommentResult(parsed, tuple(outcomes), reply, reply_id)
    _react(deps, event, Reaction.DONE if result.ok else Reaction.FAILED)
    return result


#: commands whose run may open or close the group's PR
CHURN_KINDS = frozenset({
    CommandKind.PIN, CommandKind.UNPIN, CommandKind.CLOSE, CommandKind.REOPEN, CommandKind.IGNORE,
    CommandKind.UNIGNORE, CommandKind.ROLLBACK, CommandKind.RECREATE,
})  # fmt: skip


@dataclass
class _ChurnBudget:
    """A comment takes one of its group's churn allowance (``bot.store.churn``), at its first
    authorised command that may open or close the PR, and only then."""

    ctx: Context
    granted: bool | None = None

    def allows(self, command: Command) -> bool:
        if command.kind not in CHURN_KINDS or self.ctx.group_key is None:
            return True
        if self.granted is None:
            self.granted = self.ctx.deps.churn(self.ctx.group_key)
        return self.granted


def _authorised_run(ctx: Context, command: Command, churn: _ChurnBudget) -> Outcome:
    """Provenance first (only the bot's PRs), then every effect authorised, then the handler."""
    if command.kind is not CommandKind.HELP and ctx.group_key is None:
        return Outcome(command, False, not_our_pr_text(command, ctx.not_ours))
    event = ctx.event
    try:
        decision = authorise(ctx, command)
    except Refusal as exc:
        return Outcome(command, False, str(exc))
    except BotError as exc:
        log.warning("rights of %s for %r on %s failed: %s", event.author, command.text, event.repo, exc)
        decision = Decision(False, f"cannot check @{event.author}'s permission or team membership: {exc}")
    if not decision.allowed:
        return Outcome(command, False, refused_text(decision.reason))
    if not churn.allows(command):
        return Outcome(command, False, churn_text())
    return _run_one(ctx, command, run_command)


def _run_one(ctx: Context, command: Command, run: Callable[[Context, Command], Outcome]) -> Outcome:
    try:
        return run(ctx, command)
    except Refusal as exc:
        return Outcome(command, False, str(exc))
    except BotError as exc:
        log.warning("command %r on %s#%s failed: %s", command.text, ctx.event.repo, ctx.event.pr_number, exc)
        return Outcome(command, False, str(exc))


def _context(deps: ChatopsDeps, event: PrComment) -> Context:
    """The PR as the forge shows it now, its group when it is the bot's, the author's permission."""
    try:
        pr: PullRequest | None = deps.forge.get_pr(event.repo, event.pr_number)
    except NotFound:
        pr = None
    found = provenance(deps, event.repo, pr) if pr is not None else None
    try:
        level = deps.forge.permission(event.repo, event.author)
    except NotFound:
        level = Permission.NONE
    return Context(
        deps,
        event,
        pr,
        found.group_key if found else None,
        Actor(event.author, level),
        not_ours=found.reason if found else "the forge does not know this pull request",
    )


def _reply(
    deps: ChatopsDeps, parsed: ParsedComment, outcomes: Sequence[Outcome], waited_s: float | None
) -> str | None:
    parts: list[str] = []
    waited = waited_s is not None and waited_s >= 0.05
    if any(o.speak or not o.ok for o in outcomes) or (waited and outcomes):
        parts.append(reply_text(outcomes, waited_s))
    if parsed.unknown:
        parts.append(unknown_text(parsed.unknown, deps.prefix, deps.policy))
    if parsed.undone or parsed.over_limit:
        parts.append(bounds_text(len(parsed.undone), parsed.over_limit))
    return "\n\n".join(parts) or None

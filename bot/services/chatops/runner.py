"""Run the commands of one PR comment (the imperative shell around ``bot.core.chatops``).

``run_comment`` is called by the command job while it holds the manifest repo's lock (the same
lock reconcile takes), so a command and an automatic update never interleave. Per comment it:

1. parses the comment (the bot's and other bots' comments, quotes and code are ignored);
2. reacts 👀 (done by the job before it waits for the lock, so people see they were heard);
3. reads the author's permission from the forge *now* and authorises every command;
4. runs the commands in order through the handler table (``bot.services.chatops.handlers``);
5. reacts 🚀 when all succeeded, 😕 otherwise, and replies when there is something to say
   (help, status, a refusal or failure with its reason, unknown commands, waiting for the lock).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.core.chatops.authz import Actor, Decision, authorize
from bot.core.chatops.commands import Command, ParsedComment, parse_comment
from bot.core.chatops.decisions import Refusal
from bot.core.chatops.replies import Outcome, refused_text, reply_text, unknown_text
from bot.core.events import PrComment
from bot.core.marker import parse_marker
from bot.core.ports import Permission, PullRequest, Reaction
from bot.errors import BotError, NotFound
from bot.services.chatops.context import ChatopsDeps, Context, environment
from bot.services.chatops.handlers import run_command

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CommentResult:
    parsed: ParsedComment
    outcomes: tuple[Outcome, ...] = ()
    reply: str | None = None
    reply_id: str | None = None

    @property
    def ok(self) -> bool:
        return not self.parsed.unknown and all(o.ok for o in self.outcomes)


def parse(deps: ChatopsDeps, event: PrComment) -> ParsedComment:
    return parse_comment(
        event.body,
        author=event.author,
        author_is_bot=event.author_is_bot,
        prefix=deps.prefix,
        bot_login=deps.bot_login or deps.forge.info.bot_login,
    )


def acknowledge(deps: ChatopsDeps, event: PrComment) -> None:
    """👀 on the comment; a reaction that fails must not stop the command."""
    _react(deps, event, Reaction.SEEN)


def _react(deps: ChatopsDeps, event: PrComment, reaction: Reaction) -> None:
    try:
        deps.forge.react(event.repo, event.pr_number, event.comment_id, reaction)
    except BotError as exc:
        log.warning("cannot react %s on %s#%s: %s", reaction.value, event.repo, event.pr_number, exc)


def locate_group(deps: ChatopsDeps, repo: str, pr: PullRequest) -> str | None:
    """The group key of a bot PR: by its head branch, else by the hidden marker in its body."""
    found = deps.groups.group_for_branch(deps.forge_name, repo, pr.head_branch)
    if found is not None:
        return found
    marker = parse_marker(pr.body)
    if marker is None or marker.group.count(":") < 3:
        return None
    return marker.group


def run_comment(
    deps: ChatopsDeps, event: PrComment, *, parsed: ParsedComment | None = None, waited_s: float | None = None
) -> CommentResult:
    """Run every command in the comment (see the module docstring). Never raises for a user's
    mistake or a refusal; forge errors of a single command become that command's failure."""
    parsed = parsed or parse(deps, event)
    if not parsed.items:
        return CommentResult(parsed)
    ctx = _context(deps, event)
    outcomes: list[Outcome] = []
    is_member = membership(deps, event)
    for command in parsed.commands:
        try:
            decision = authorize(
                command, ctx.actor, deps.policy, environment=environment(ctx), is_member=is_member
            )
        except BotError as exc:
            log.warning("team lookup for %s on %s failed: %s", event.author, event.repo, exc)
            decision = Decision(False, f"cannot check @{event.author}'s team membership: {exc}")
        if not decision.allowed:
            outcomes.append(Outcome(command, False, refused_text(decision.reason)))
            continue
        outcomes.append(_run_one(ctx, command, run_command))
    reply = _reply(deps, parsed, outcomes, waited_s)
    reply_id = deps.forge.comment(event.repo, event.pr_number, reply) if reply else None
    result = CommentResult(parsed, tuple(outcomes), reply, reply_id)
    _react(deps, event, Reaction.DONE if result.ok else Reaction.FAILED)
    return result


def membership(deps: ChatopsDeps, event: PrComment) -> Callable[[str], bool] | None:
    """``team -> bool`` for the comment's author through the forge's optional ``team_member``
    extra (None when the forge has none: team rules then never match), each team asked once."""
    lookup = getattr(deps.forge, "team_member", None)
    if lookup is None:
        return None
    answers: dict[str, bool] = {}

    def is_member(team: str) -> bool:
        if team not in answers:
            answers[team] = bool(lookup(event.repo, team, event.author))
        return answers[team]

    return is_member


def _run_one(ctx: Context, command: Command, run: Callable[[Context, Command], Outcome]) -> Outcome:
    try:
        return run(ctx, command)
    except Refusal as exc:
        return Outcome(command, False, str(exc))
    except BotError as exc:
        log.warning("command %r on %s#%s failed: %s", command.text, ctx.event.repo, ctx.event.pr_number, exc)
        return Outcome(command, False, str(exc))


def _context(deps: ChatopsDeps, event: PrComment) -> Context:
    try:
        pr: PullRequest | None = deps.forge.get_pr(event.repo, event.pr_number)
    except NotFound:
        pr = None
    group_key = locate_group(deps, event.repo, pr) if pr is not None else None
    try:
        level = deps.forge.permission(event.repo, event.author)
    except NotFound:
        level = Permission.NONE
    return Context(deps, event, pr, group_key, Actor(event.author, level))


def _reply(
    deps: ChatopsDeps, parsed: ParsedComment, outcomes: Sequence[Outcome], waited_s: float | None
) -> str | None:
    parts: list[str] = []
    waited = waited_s is not None and waited_s >= 0.05
    if any(o.speak or not o.ok for o in outcomes) or (waited and outcomes):
        parts.append(reply_text(outcomes, waited_s))
    if parsed.unknown:
        parts.append(unknown_text(parsed.unknown, deps.prefix))
    return "\n\n".join(parts) or None



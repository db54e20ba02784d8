"""Authorisation on the effect: a command is checked against every group it will change.

Where a comment is written does not decide what it may do; what the command changes does. Each
mutating command has effects — (forge, repository, environment) of each group it writes:

- ``promote``: the groups of the promotion's *target* environment (worked out once, the same plan
  the handler then applies), which may live in other repositories of the same forge;
- every other mutating command (``pin``, ``rollback``, ``hold``, ``merge``…): the PR's own group,
  in the PR's environment.

Each effect is authorised with the per-command and per-environment rules (``bot.core.chatops.authz``)
against the commenter's permission on *that* repository, read from the forge now. A change on
another forge is refused: an account name on one forge says nothing about the same name on another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.core.chatops.authz import Actor, Decision, authorize, is_read_only
from bot.core.chatops.commands import Command, CommandKind
from bot.core.keys import GroupKey
from bot.core.ports import Permission, TeamDirectory
from bot.errors import NotFound
from bot.services.chatops.context import ChatopsDeps, Context, environment, group_key
from bot.services.chatops.versions import plan_promotion


@dataclass(frozen=True, slots=True)
class Effect:
    """One group a command changes, and the environment it changes it in."""

    group_key: str
    environment: str | None

    @property
    def key(self) -> GroupKey:
        return GroupKey.parse(self.group_key)


def effects(ctx: Context, command: Command) -> tuple[Effect, ...]:
    """What ``command`` will change (none for read-only commands). May raise ``Refusal``."""
    if is_read_only(command.kind):
        return ()
    if command.kind is CommandKind.PROMOTE:
        promotion = plan_promotion(ctx, command)
        return tuple(dict.fromkeys(Effect(i.group_key, i.environment) for i in promotion.intents))
    return (Effect(group_key(ctx), environment(ctx)),)


def authorise(ctx: Context, command: Command) -> Decision:
    """Allowed only when every effect is; the first refusal says which and why. Forge errors
    (permission or team lookups) propagate for the caller to turn into a refusal."""
    found = effects(ctx, command)
    if not found:  # read-only
        return authorize(command, ctx.actor, ctx.deps.policy, environment=None)
    decision = Decision(False, "no effect")
    for effect in found:
        decision = _authorise_effect(ctx, command, effect)
        if not decision.allowed:
            return decision
    return decision


def _authorise_effect(ctx: Context, command: Command, effect: Effect) -> Decision:
    deps, event, key = ctx.deps, ctx.event, effect.key
    if key.forge != deps.forge_name:
        return Decision(
            False,
            f"`{command.kind.value}` would change group `{key.group}` on forge `{key.forge}`; "
            f"a comment on `{deps.forge_name}` cannot authorise that",
        )
    here = key.repo == event.repo
    actor = ctx.actor if here else Actor(event.author, permission(deps, key.repo, event.author))
    return authorize(
        command,
        actor,
        deps.policy,
        environment=effect.environment,
        target=effect.environment,
        is_member=membership(deps, key.repo, event.author),
        repository=None if here else key.repo,
    )


def permission(deps: ChatopsDeps, repo: str, user: str) -> Permission:
    """``user``'s permission on ``repo``, read from the forge now (none when it cannot see it)."""
    try:
        return deps.forge.permission(repo, user)
    except NotFound:
        return Permission.NONE


def membership(deps: ChatopsDeps, repo: str, user: str) -> Callable[[str], bool] | None:
    """``team -> bool`` for ``user`` through the forge's optional ``TeamDirectory`` extra (None when
    the forge has none: team rules then never match), each team asked once."""
    forge = deps.forge
    if not isinstance(forge, TeamDirectory):
        return None
    answers: dict[str, bool] = {}

    def is_member(team: str) -> bool:
        if team not in answers:
            answers[team] = bool(forge.team_member(repo, team, user))
        return answers[team]

    return is_member

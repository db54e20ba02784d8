"""Who may run which chat-ops command (pure). One model for GitHub and GitLab.

``help`` and ``status`` are read-only and open to anyone who can comment. Every other command
changes something and needs ``Permission.WRITE`` (GitHub write/maintain/admin, GitLab Developer+),
unless the config overrides it. An override names commands and/or environments and what they
need instead: a minimum permission, and/or listed users or teams. When one or more overrides
match a command, they replace the default and *every* matching override must be satisfied (so
overrides can lower the bar for one command or raise it for one environment, and two overrides
never silently weaken each other). An override is satisfied by the minimum permission *or* by
membership in its users/teams — "promote to prod needs maintain, or the release team".

The permission itself is always read from the forge when the command runs (never from the payload);
this module only decides.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, assert_never

from bot.core.chatops.commands import Command, CommandKind, command_kind
from bot.core.ports import Permission

_PERMISSION_NAMES: dict[str, Permission] = {
    "none": Permission.NONE,
    "read": Permission.READ,
    "guest": Permission.READ,
    "triage": Permission.TRIAGE,
    "reporter": Permission.TRIAGE,
    "write": Permission.WRITE,
    "developer": Permission.WRITE,
    "maintain": Permission.MAINTAIN,
    "maintainer": Permission.MAINTAIN,
    "admin": Permission.ADMIN,
    "owner": Permission.ADMIN,
}


class OverrideRule(Protocol):
    """One rule of the routing config's ``chatops.overrides`` (``bot.core.config.model``)."""

    @property
    def commands(self) -> Sequence[str]: ...
    @property
    def environments(self) -> Sequence[str]: ...
    @property
    def permission(self) -> str | None: ...
    @property
    def users(self) -> Sequence[str]: ...
    @property
    def teams(self) -> Sequence[str]: ...


class ChatOpsSection(Protocol):
    """The routing config's ``chatops`` section (``bot.core.config.model.ChatOps``; the config
    package imports the command vocabulary from here, so this side names only the shape)."""

    @property
    def default_permission(self) -> str: ...
    @property
    def commands(self) -> Mapping[str, str]: ...
    @property
    def environments(self) -> Mapping[str, str]: ...
    @property
    def allowed_users(self) -> Sequence[str]: ...
    @property
    def allowed_teams(self) -> Sequence[str]: ...
    @property
    def overrides(self) -> Sequence[OverrideRule]: ...


def parse_permission(name: str) -> Permission:
    """GitHub (read … admin) or GitLab (guest … owner) level names, case-insensitive."""
    try:
        return _PERMISSION_NAMES[name.strip().lower()]
    except KeyError:
        known = ", ".join(_PERMISSION_NAMES)
        raise ValueError(f"unknown permission {name!r} (one of {known})") from None


def is_read_only(kind: CommandKind) -> bool:
    match kind:
        case CommandKind.HELP | CommandKind.STATUS:
            return True
        case (
            CommandKind.REBASE
            | CommandKind.RECREATE
            | CommandKind.RETRY
            | CommandKind.HOLD
            | CommandKind.UNHOLD
            | CommandKind.MERGE
            | CommandKind.SQUASH_MERGE
            | CommandKind.CANCEL_MERGE
            | CommandKind.CLOSE
            | CommandKind.REOPEN
            | CommandKind.IGNORE
            | CommandKind.UNIGNORE
            | CommandKind.PIN
            | CommandKind.UNPIN
            | CommandKind.PROMOTE
            | CommandKind.ROLLBACK
        ):
            return False
        case _:
            assert_never(kind)


@dataclass(frozen=True, slots=True)
class Override:
    """One rule from the config's chat-ops section. Empty ``commands``/``environments`` = any."""

    commands: frozenset[CommandKind] = frozenset()
    environments: frozenset[str] = frozenset()
    permission: Permission | None = None
    users: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()

    def matches(self, kind: CommandKind, environment: str | None) -> bool:
        if self.commands and kind not in self.commands:
            return False
        return not self.environments or (environment is not None and environment in self.environments)

    def describe(self) -> str:
        ways = []
        if self.permission is not None:
            ways.append(f"{self.permission.name.lower()} permission")
        if self.users:
            ways.append("being one of " + ", ".join(f"@{u}" for u in sorted(self.users)))
        if self.teams:
            ways.append("membership of " + ", ".join(sorted(self.teams)))
        return " or ".join(ways) or "nothing"

    @classmethod
    def of(cls, rule: OverrideRule) -> Override:
        """From one rule of the config's ``chatops.overrides``."""
        return cls(
            commands=frozenset(command_kind(c) for c in rule.commands),
            environments=frozenset(rule.environments),
            permission=parse_permission(rule.permission) if rule.permission is not None else None,
            users=frozenset(u.lower().lstrip("@") for u in rule.users),
            teams=frozenset(t.lower() for t in rule.teams),
        )


@dataclass(frozen=True, slots=True)
class Policy:
    default: Permission = Permission.WRITE
    overrides: tuple[Override, ...] = ()
    #: when either is non-empty, only these users/teams may run mutating commands (besides permission)
    only_users: frozenset[str] = frozenset()
    only_teams: frozenset[str] = frozenset()

    @classmethod
    def from_chatops(cls, chatops: ChatOpsSection) -> Policy:
        """From the routing config's ``chatops`` section: ``default_permission``;
        ``commands``/``environments`` maps of least permission (the strictest applicable one
        wins); ``allowed_users``/``allowed_teams``; and the ``overrides`` rules."""
        default = parse_permission(chatops.default_permission)
        rules: list[Override] = []
        for name, level in chatops.commands.items():
            kinds = frozenset({command_kind(name)})
            rules.append(Override(commands=kinds, permission=parse_permission(level)))
        for env, level in chatops.environments.items():
            rules.append(Override(environments=frozenset({env}), permission=parse_permission(level)))
        # the config's per-command/per-environment levels only ever raise the default
        rules = [replace(r, permission=max(r.permission or default, default)) for r in rules]
        rules += [Override.of(rule) for rule in chatops.overrides]
        return cls(
            default=default,
            overrides=tuple(rules),
            only_users=frozenset(u.lower().lstrip("@") for u in chatops.allowed_users),
            only_teams=frozenset(t.lower() for t in chatops.allowed_teams),
        )


@dataclass(frozen=True, slots=True)
class Actor:
    login: str
    permission: Permission  # read from the forge at execution time
    teams: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str  # why it was refused, or which rule allowed it


def environment_of(command: Command, pr_environment: str | None) -> str | None:
    """The environment a command acts on: the promote target when named, else the PR's own."""
    if command.kind is CommandKind.PROMOTE and command.environment:
        return command.environment
    return pr_environment


def authorize(
    command: Command,
    actor: Actor,
    policy: Policy,
    *,
    environment: str | None,
    target: str | None = None,
    is_member: Callable[[str], bool] | None = None,
    repository: str | None = None,
) -> Decision:
    """May ``actor`` run ``command`` on a PR of ``environment``? ``target`` overrides the
    environment the rules are matched against (``promote`` with no named env: the next one).
    ``repository`` names the repository ``actor.permission`` was read on when it is not the one
    the comment was written in (for the reply).

    ``is_member(team)`` (optional) answers for teams not in ``actor.teams``; it is asked only about
    teams an applicable rule lists, only when neither the permission level nor a listed user name
    already decides the rule, and it stops at the first team that grants. Whatever it raises
    propagates (the caller turns a failed lookup into a refusal)."""
    if is_read_only(command.kind):
        return Decision(True, "read-only command")
    env = target or environment_of(command, environment)
    login = actor.login.lower()
    known = {t.lower() for t in actor.teams}

    def in_any(listed: frozenset[str]) -> bool:
        if known & listed:
            return True
        return is_member is not None and any(is_member(t) for t in sorted(listed - known))

    if (policy.only_users or policy.only_teams) and not (
        login in policy.only_users or in_any(policy.only_teams)
    ):
        return Decision(False, f"only listed users or teams may run `{command.kind.value}` here")
    matching = [o for o in policy.overrides if o.matches(command.kind, env)]
    where = f" in {env}" if env else ""
    on = f"`{repository}`" if repository else "this repository"
    if not matching:
        if actor.permission >= policy.default:
            return Decision(True, f"{policy.default.name.lower()} permission")
        return Decision(
            False,
            f"`{command.kind.value}`{where} needs {policy.default.name.lower()} permission on "
            f"{on}; @{actor.login} has {actor.permission.name.lower()}",
        )
    for rule in matching:
        by_level = rule.permission is not None and actor.permission >= rule.permission
        # a named grant still needs the person to see the repo at all
        by_name = (
            not by_level
            and actor.permission >= Permission.READ
            and (login in rule.users or in_any(rule.teams))
        )
        if not (by_level or by_name):
            return Decision(
                False,
                f"`{command.kind.value}`{where} needs {rule.describe()}; "
                f"@{actor.login} has {actor.permission.name.lower()} permission"
                + (f" on `{repository}`" if repository else ""),
            )
    return Decision(True, "allowed by the chat-ops overrides")

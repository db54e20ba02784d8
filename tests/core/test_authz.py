"""Who may run what: one model for GitHub and GitLab, with per-command/per-environment overrides."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from bot.core.chatops.authz import (
    Actor,
    Policy,
    authorize,
    is_read_only,
    parse_permission,
)
from bot.core.chatops.commands import Command, CommandKind, parse_comment
from bot.core.config.model import ChatOps
from bot.core.ports import Permission

P = Permission
K = CommandKind


def policy_of(**chatops: Any) -> Policy:
    """The policy of a routing config's ``chatops`` section (validated like the config file)."""
    return Policy.from_chatops(ChatOps.model_validate(chatops))


def rules(*overrides: dict[str, Any]) -> Policy:
    return policy_of(overrides=list(overrides))


def cmd(line: str) -> Command:
    (command,) = parse_comment(f"/manifest-bot {line}", author="x").commands
    return command


PROD_RULES = rules(
    *[
        {"commands": ["promote"], "environments": ["prod"], "permission": "maintain", "users": ["Rita"]},
        {"environments": ["prod"], "commands": ["merge", "squash-and-merge"], "teams": ["acme/release"]},
        {"commands": ["retry"], "permission": "triage"},
    ]
)


@pytest.mark.parametrize(
    ("line", "permission", "env", "allowed"),
    [
        # read-only commands: anyone, even without access
        ("help", P.NONE, None, True),
        ("status", P.NONE, "prod", True),
        # mutating commands: write and above, on both forges' ladders
        ("rebase", P.READ, "dev", False),
        ("rebase", P.TRIAGE, "dev", False),  # GitHub triage / GitLab Reporter
        ("rebase", P.WRITE, "dev", True),  # GitHub write / GitLab Developer
        ("hold", P.MAINTAIN, "dev", True),
        ("ignore this major version", P.ADMIN, None, True),
        ("pin 1.2.3", P.READ, None, False),
    ],
)
def test_default_policy(line: str, permission: Permission, env: str | None, allowed: bool) -> None:
    decision = authorize(cmd(line), Actor("bob", permission), Policy(), environment=env)
    assert decision.allowed is allowed


@pytest.mark.parametrize(
    ("line", "login", "permission", "teams", "pr_env", "allowed"),
    [
        # promote to prod needs maintain ...
        ("promote to prod", "bob", P.WRITE, (), "staging", False),
        ("promote to prod", "bob", P.MAINTAIN, (), "staging", True),
        # ... or being a listed user (names compare case-insensitively)
        ("promote to prod", "rita", P.WRITE, (), "staging", True),
        ("promote to prod", "rita", P.NONE, (), "staging", False),  # lost access: no named grant
        # other environments keep the default
        ("promote to staging", "bob", P.WRITE, (), "dev", True),
        ("promote to staging", "bob", P.TRIAGE, (), "dev", False),
        # the PR's own environment is what a merge is matched against
        ("merge", "bob", P.ADMIN, (), "prod", False),  # only the release team merges prod
        ("merge", "bob", P.WRITE, ("acme/release",), "prod", True),
        ("squash and merge", "bob", P.WRITE, ("ACME/Release",), "prod", True),
        ("merge", "bob", P.WRITE, (), "dev", True),
        # an override can lower the bar for one command
        ("retry", "bob", P.TRIAGE, (), "dev", True),
        ("retry", "bob", P.READ, (), "dev", False),
    ],
)
def test_overrides(  # noqa: PLR0917 - one parameter per table column
    line: str, login: str, permission: Permission, teams: tuple[str, ...], pr_env: str, allowed: bool
) -> None:
    actor = Actor(login, permission, frozenset(teams))
    assert authorize(cmd(line), actor, PROD_RULES, environment=pr_env).allowed is allowed


def test_every_matching_override_must_hold() -> None:
    policy = rules(
        {"environments": ["prod"], "permission": "write"},
        {"environments": ["prod"], "commands": ["close"], "permission": "admin"},
    )
    maintainer = Actor("m", P.MAINTAIN)
    assert authorize(cmd("hold"), maintainer, policy, environment="prod").allowed
    assert not authorize(cmd("close"), maintainer, policy, environment="prod").allowed


def test_promote_without_an_environment_is_matched_against_the_chain_target() -> None:
    actor = Actor("bob", P.WRITE)
    decision = authorize(cmd("promote"), actor, PROD_RULES, environment="staging", target="prod")
    assert not decision.allowed


def test_refusals_say_what_is_needed_and_what_the_user_has() -> None:
    refused = authorize(cmd("rebase"), Actor("bob", P.READ), Policy(), environment="dev")
    assert refused.reason == "`rebase` in dev needs write permission on this repository; @bob has read"
    refused = authorize(cmd("promote to prod"), Actor("bob", P.WRITE), PROD_RULES, environment="staging")
    assert (
        refused.reason
        == "`promote` in prod needs maintain permission or being one of @rita; @bob has write permission"
    )
    refused = authorize(cmd("merge"), Actor("bob", P.ADMIN), PROD_RULES, environment="prod")
    assert refused.reason == "`merge` in prod needs membership of acme/release; @bob has admin permission"


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("write", P.WRITE),
        ("Developer", P.WRITE),
        ("maintainer", P.MAINTAIN),
        ("reporter", P.TRIAGE),
        ("owner", P.ADMIN),
    ],
)
def test_permission_names_from_both_forges(name: str, level: Permission) -> None:
    assert parse_permission(name) is level


def test_config_errors_are_clear() -> None:
    with pytest.raises(ValidationError, match="Input should be 'none', 'read'"):
        rules({"permission": "writer"})
    with pytest.raises(ValidationError, match="unknown chat-ops command 'deploy'"):
        rules({"commands": ["deploy"]})


def test_exactly_help_and_status_are_read_only() -> None:
    assert {k for k in CommandKind if is_read_only(k)} == {K.HELP, K.STATUS}


def test_policy_from_the_config_section_takes_the_strictest_level() -> None:
    policy = policy_of(commands={"promote": "maintain", "retry": "read"}, environments={"prod": "admin"})
    writer, maintainer, admin = Actor("w", P.WRITE), Actor("m", P.MAINTAIN), Actor("a", P.ADMIN)
    assert not authorize(cmd("promote to staging"), writer, policy, environment="dev").allowed
    assert authorize(cmd("promote to staging"), maintainer, policy, environment="dev").allowed
    assert not authorize(cmd("promote to prod"), maintainer, policy, environment="staging").allowed
    assert authorize(cmd("promote to prod"), admin, policy, environment="staging").allowed
    assert not authorize(cmd("hold"), maintainer, policy, environment="prod").allowed
    # a per-command level below the default does not lower it
    assert not authorize(cmd("retry"), Actor("r", P.READ), policy, environment="dev").allowed


def test_allowed_users_and_teams_restrict_mutating_commands_only() -> None:
    policy = policy_of(allowed_users=["Alice"], allowed_teams=["acme/ops"])
    assert authorize(cmd("hold"), Actor("alice", P.WRITE), policy, environment=None).allowed
    assert authorize(
        cmd("hold"), Actor("bob", P.WRITE, frozenset({"acme/ops"})), policy, environment=None
    ).allowed
    refused = authorize(cmd("hold"), Actor("bob", P.ADMIN), policy, environment=None)
    assert (refused.allowed, refused.reason) == (False, "only listed users or teams may run `hold` here")
    assert not authorize(cmd("hold"), Actor("alice", P.READ), policy, environment=None).allowed
    assert authorize(cmd("status"), Actor("bob", P.NONE), policy, environment=None).allowed


def test_team_lookups_only_for_listed_teams_and_only_when_the_level_does_not_decide() -> None:
    rule = {"commands": ["promote"], "environments": ["prod"], "permission": "maintain"}
    policy = rules({**rule, "users": ["rita"], "teams": ["acme/release", "acme/sre"]})
    asked: list[str] = []

    def member_of(*teams: str) -> Callable[[str], bool]:  # records what it is asked
        def is_member(team: str) -> bool:
            asked.append(team)
            return team in teams

        return is_member

    def run(line: str, login: str, level: Permission, env: str, *teams: str) -> bool:
        decision = authorize(
            cmd(line), Actor(login, level), policy, environment=env, is_member=member_of(*teams)
        )
        return decision.allowed

    assert run("promote to prod", "mona", P.MAINTAIN, "staging")  # the level decides
    assert run("promote to prod", "rita", P.READ, "staging")  # a listed user
    assert run("hold", "bob", P.WRITE, "dev")  # no rule lists teams for hold
    assert asked == []
    assert run("promote to prod", "alice", P.WRITE, "staging", "acme/release")
    assert asked == ["acme/release"]  # the first team that grants ends the lookups
    asked.clear()
    assert not run("promote to prod", "bob", P.WRITE, "staging")
    assert asked == ["acme/release", "acme/sre"]  # only the rule's teams, never a listing
    asked.clear()
    assert not run("promote to prod", "eve", P.NONE, "staging", "acme/release")  # cannot see the repo
    assert asked == []


def test_allowed_teams_are_looked_up_when_the_user_is_not_listed() -> None:
    policy = Policy(only_users=frozenset({"rita"}), only_teams=frozenset({"acme/bots"}))
    allowed = authorize(
        cmd("hold"), Actor("alice", P.WRITE), policy, environment="dev", is_member=lambda t: t == "acme/bots"
    )
    assert allowed.allowed
    refused = authorize(
        cmd("hold"), Actor("alice", P.WRITE), policy, environment="dev", is_member=lambda t: False
    )
    assert not refused.allowed
    assert authorize(cmd("hold"), Actor("alice", P.WRITE), policy, environment="dev").allowed is False


def test_policy_from_the_config_model_overrides() -> None:
    chatops = ChatOps.model_validate(
        {
            "overrides": [
                {
                    "commands": ["promote"],
                    "environments": ["prod"],
                    "permission": "maintain",
                    "teams": ["Acme/Release"],
                }
            ]
        }
    )
    policy = Policy.from_chatops(chatops)
    decision = authorize(
        cmd("promote to prod"),
        Actor("alice", P.WRITE),
        policy,
        environment="staging",
        is_member=lambda t: t == "acme/release",
    )
    assert decision.allowed
    assert not authorize(
        cmd("promote to prod"), Actor("alice", P.WRITE), policy, environment="staging"
    ).allowed

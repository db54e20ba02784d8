"""Is this pull request the bot's? Only the forge and the bot's own records may say so.

A PR is the bot's, and chat-ops acts on it, only when all of these hold:

1. the forge says the bot opened it: its author is the forge's bot account (the GitHub App's
   ``<slug>[bot]``, the GitLab bot user, the local forge's ``bot_login``);
2. it names a group of *this* forge and repository: by the bot's own branch index (written when
   the bot opened or found the PR), else by the hidden marker in the body — which anyone who can
   edit the body can forge, so it is only a hint to check, never an authority;
3. its base is the group's base branch and its head branch is one of the group's deterministic
   branches ``<branch_prefix>/<env>/<group>`` (from the routing config now, or the branch the bot
   itself recorded for the group, which an open PR keeps when the config's prefix changes).

Anything else — a person's PR carrying a copied marker, a marker naming another repository's or
another forge's group, a branch that is not the group's — is refused with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.keys import GroupKey
from bot.core.marker import parse_marker
from bot.core.ports import PullRequest
from bot.services.chatops.context import ChatopsDeps


@dataclass(frozen=True, slots=True)
class Provenance:
    group_key: str | None
    #: why the PR is not the bot's (None when ``group_key`` is set)
    reason: str | None = None


def bot_account(deps: ChatopsDeps) -> str | None:
    """The account the forge opens the bot's PRs as."""
    return deps.forge.info.bot_login or deps.bot_login


def same_account(author: str | None, bot: str | None) -> bool:
    return author is not None and bot is not None and author.lower() == bot.lower()


def group_branches(deps: ChatopsDeps, group_key: str) -> set[str]:
    """Every head branch the group's PR may have: the config's and the one the bot recorded."""
    branches = set(deps.branches_of(group_key))
    recorded = deps.groups.get(group_key).head_branch
    if recorded:
        branches.add(recorded)
    return branches


def provenance(deps: ChatopsDeps, repo: str, pr: PullRequest) -> Provenance:
    """The group of ``pr`` when it is the bot's PR in ``repo`` (see the module docstring)."""
    bot = bot_account(deps)
    if not same_account(pr.author, bot):
        opener = f"@{pr.author}" if pr.author else "an account the forge did not name"
        return Provenance(None, f"this pull request was opened by {opener}, not by @{bot}")
    candidate = deps.groups.group_for_branch(deps.forge_name, repo, pr.head_branch)
    if candidate is None:
        marker = parse_marker(pr.body)
        candidate = marker.group if marker is not None else None
    if candidate is None:
        return Provenance(None, "no update group of this repository uses this pull request's branch")
    try:
        key = GroupKey.parse(candidate)
    except ValueError:
        return Provenance(None, "its marker names no update group")
    if key.forge != deps.forge_name or key.repo != repo:
        return Provenance(None, "its marker names an update group of another repository")
    if pr.base_branch != key.base or pr.head_branch not in group_branches(deps, candidate):
        return Provenance(None, f"its branch `{pr.head_branch}` is not the branch of group `{key.group}`")
    return Provenance(candidate)

"""How a group's pull request looks and behaves, resolved from the routing config (pure).

Stored intents never carry these: the reconcile resolves them from the *current* config (and the
manifest repo's own file at the base commit), so a changed title template, label or reviewer
reaches open PRs on their next reconcile (``bot.core.config.model.Config.pr_for_group``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.core.pr_limits import Limits

#: placeholders PR title and commit templates may use (``bot.core.render`` fills them)
TEMPLATE_FIELDS = frozenset({"env", "group", "image", "short_image", "tag", "old", "count"})


@dataclass(frozen=True, slots=True)
class PrOptions:
    """The PR settings of one group."""

    title_template: str = "chore({env}): bump {short_image} to {tag}"
    commit_template: str = "chore({env}): bump {short_image} to {tag}"
    #: Jinja over the group's change (``bot.core.templates``); None: the bot's summary and table
    body_template: str | None = None
    labels: tuple[str, ...] = ()
    reviewers: tuple[str, ...] = ()
    assignees: tuple[str, ...] = ()
    draft: bool = False
    auto_merge: bool = False
    merge_method: Literal["merge", "squash", "rebase"] = "squash"
    branch_prefix: str = "manifest-bot"
    #: "pr" opens a pull request; "push" commits straight to the base branch (Flux-style write-back)
    mode: Literal["pr", "push"] = "pr"
    #: a major bump goes to its own group ``<group>-major`` (``bot.core.majors``)
    separate_major: bool = False
    #: when the base moved, rebuild the bot's branch on it: "conflicted" only when the base changed
    #: a file the PR edits, "auto" also whenever it auto-merges, "never" not unless asked (Renovate's
    #: ``rebaseWhen``); else an update appends a commit and approvals stay
    rebase: Literal["auto", "conflicted", "never"] = "conflicted"

    def rebuilds_on_any_base_move(self) -> bool:
        """Renovate's ``auto``: a PR that merges by itself is kept on the current base, so what
        merges is what was tested; any other is rebuilt only when it conflicts."""
        return self.rebase == "auto" and self.auto_merge

    #: ``pr.limits``: at most this many of the bot's PRs open in the repo / opened per hour
    limits: Limits | None = None

    def branch(self, environment: str | None, group: str) -> str:
        """The bot's head branch for a group: ``<branch_prefix>/<environment>/<group>``."""
        return f"{self.branch_prefix}/{environment or 'default'}/{group}"


#: the settings of a config that sets none (defaults for callers given no options)
DEFAULT_PR = PrOptions()

"""Every reply the chat-ops handler writes (pure, golden-tested in tests/core/test_chatops_text.py).

Texts are plain GitHub/GitLab-flavoured Markdown. They never contain secrets: the inputs are
command lines the user wrote, logins, image names, tags and environment names. Whatever a person
wrote is echoed only through ``spans.code`` (one code span, backticks fenced, length bounded), so
no mention, link, image or HTML from a comment renders in the bot's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import assert_never

from bot.core.chatops.authz import Policy
from bot.core.chatops.commands import DEFAULT_PREFIX, Command, Unknown
from bot.core.chatops.fold import MAX_COMMANDS
from bot.core.chatops.spans import code
from bot.core.merge import Superseded
from bot.core.ports import Permission

#: (command, what it does) in the order the help lists them
HELP_ROWS: tuple[tuple[str, str], ...] = (
    ("help", "show this help"),
    ("status", "versions wanted vs in the branch, ignores, pins, hold and queue state"),
    ("rebase", "regenerate the branch on the current base (also after someone edited it)"),
    ("recreate", "discard the branch and the PR text and build them again"),
    ("retry", "run a failed update again"),
    ("hold / unhold", "freeze this PR: no automatic updates or merges while held"),
    ("merge / squash and merge", "merge when mergeable, or enable auto-merge"),
    ("cancel merge", "turn auto-merge off again"),
    ("close / reopen", "close or reopen this PR"),
    ("ignore this version", "skip this version of the image(s) in this PR"),
    ("ignore this major|minor|patch version", "skip every version in this major/minor/patch line"),
    ("ignore this image", "stop updating the image(s) in this PR"),
    ("unignore [version|image]", "lift ignores set on this PR"),
    ("pin <tag> / unpin", "hold the image at that tag, or release the pin"),
    ("promote [to] <env>", "open or update the next environment's PR with these versions"),
    ("rollback [<tag>]", "a PR back to the previous (or the given) version"),
)


def _row(*cells: str) -> str:
    # GFM splits table cells on every unescaped pipe, even inside code spans
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


#: how each rung of the permission ladder reads on either forge
_RUNGS = {
    Permission.READ: "read (GitLab Guest)",
    Permission.TRIAGE: "triage (GitLab Reporter)",
    Permission.WRITE: "write (GitLab Developer)",
    Permission.MAINTAIN: "maintain (GitLab Maintainer)",
    Permission.ADMIN: "admin (GitLab Owner)",
}


def rights_text(policy: Policy | None = None) -> str:
    """Who may run what, as the routing config's ``chatops`` section says (the default: write)."""
    policy = policy or Policy()
    lines = [
        f"`help` and `status` work for anyone; every other command needs {_rung(policy.default)} "
        "or above on the repository"
    ]
    for rule in policy.overrides:
        if rule.permission is None or rule.users or rule.teams:
            continue
        what = ", ".join(sorted(f"`{k.value}`" for k in rule.commands)) or "every command"
        where = f" in {', '.join(f'`{e}`' for e in sorted(rule.environments))}" if rule.environments else ""
        lines.append(f"{what}{where} needs {_rung(rule.permission)} or above")
    people = [f"@{u}" for u in sorted(policy.only_users)] + [f"@{t}" for t in sorted(policy.only_teams)]
    if people:
        lines.append(f"only {', '.join(people)} may run commands that change anything")
    if any(rule.users or rule.teams for rule in policy.overrides):
        lines.append("some commands are also allowed to the users and teams the config's `overrides` name")
    return "; ".join(lines) + "."


def _rung(permission: Permission) -> str:
    return _RUNGS.get(permission, permission.name.lower())


def help_text(prefix: str = DEFAULT_PREFIX, policy: Policy | None = None) -> str:
    lines = [
        f"Commands: write one per line, starting with `{prefix}` (or mentioning the bot).",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    lines += [_row(f"`{prefix} {cmd}`", what) for cmd, what in HELP_ROWS]
    lines += ["", rights_text(policy)]
    return "\n".join(lines)


def unknown_text(items: Sequence[Unknown], prefix: str = DEFAULT_PREFIX, policy: Policy | None = None) -> str:
    lines = ["I did not understand:"]
    lines += [f"- {code(u.text)} — {u.reason}" for u in items]
    if all(u.suggestion for u in items):  # a typo: the guess says more than the whole table
        return "\n".join([*lines, "", f"`{prefix} help` lists every command."])
    return "\n".join([*lines, "", help_text(prefix, policy)])


def bounds_text(undone: int, over_limit: int) -> str:
    """What the per-comment bounds left out (``bot.core.chatops.fold``)."""
    lines = []
    if undone:
        lines.append(f"{undone} command(s) not run: a later line of this comment undoes them.")
    if over_limit:
        lines.append(
            f"❌ {over_limit} more line(s) not run: one comment runs at most {MAX_COMMANDS}; "
            "write the rest in another comment."
        )
    return "\n".join(lines)


def churn_text() -> str:
    return (
        "refused: this PR has had too many comments that open or close it in the last hour; try again later."
    )


def refused_text(reason: str) -> str:
    return f"refused: {reason}."


def not_our_pr_text(command: Command, reason: str | None = None) -> str:
    why = f" ({reason})" if reason else ""
    return (
        f"{code(command.text)} only works on a pull request opened by manifest-bot{why}; "
        "`help` works anywhere."
    )


def waited_text(waited_s: float) -> str:
    return (
        f"(These commands waited {waited_s:.1f}s for another update of this repository to finish, "
        "so the two could not interleave.)"
    )


@dataclass(frozen=True, slots=True)
class TargetStatus:
    image: str
    wanted: str | None  # the tag the intents ask for (after pins), None when nothing is wanted
    in_branch: str | None  # what the PR branch holds now
    pinned: str | None = None


@dataclass(frozen=True, slots=True)
class StatusView:
    group: str
    environment: str | None
    held: bool
    targets: tuple[TargetStatus, ...] = ()
    ignored: tuple[str, ...] = ()  # human descriptions, e.g. "ghcr.io/acme/api 2.x (major)"
    queue: str = "idle"  # idle | queued | running
    last_error: str | None = None
    promotes_to: str | None = None


def _cell(value: str | None) -> str:
    return f"`{value}`" if value else "—"


def status_text(view: StatusView) -> str:
    env = f" ({view.environment})" if view.environment else ""
    state = "**held** — no automatic updates or merges" if view.held else "active"
    lines = [f"**Status of group `{view.group}`{env}**: {state}; queue: {view.queue}.", ""]
    if view.targets:
        lines += ["| image | wanted | in branch | pinned |", "|---|---|---|---|"]
        for t in view.targets:
            mark = " ⚠️" if t.wanted and t.wanted != t.in_branch else ""
            lines.append(
                f"| `{t.image}` | {_cell(t.wanted)} | {_cell(t.in_branch)}{mark} | {_cell(t.pinned)} |"
            )
    else:
        lines.append("No versions are wanted for this group right now.")
    lines.append("")
    lines.append("Ignored: " + (", ".join(view.ignored) if view.ignored else "nothing") + ".")
    if view.promotes_to:
        lines.append(f"Next environment: `{view.promotes_to}`.")
    if view.last_error:
        lines.append(f"Last error: {view.last_error}")
    return "\n".join(lines)


# --- promote -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Moved:
    """One version a ``promote`` took to the target environment, and the PR that carries it."""

    image: str
    version: str
    group: str
    repo: str
    pr: int | None = None
    #: the other images it moves: its value is one a chart reads for all of them (``images.tag``)
    also: tuple[str, ...] = ()
    shared: str = ""  # that value, ``file path``


@dataclass(frozen=True, slots=True)
class Skipped:
    """One version a ``promote`` did not take, and why (``reason`` is already words)."""

    image: str
    version: str
    reason: str
    #: the environment has this version or a newer one already: nothing was left undone
    already: bool = False


def not_routed_reason(env: str, image: str) -> str:
    return f"`{env}` does not route `{image}`"


def refused_by_policy_reason(env: str, why: str) -> str:
    return f"`{env}`'s policy refuses it: {why}"


def superseded_reason(env: str, image: str, version: str, s: Superseded, in_pr: int | None) -> str:
    """Why the target environment did not take ``image`` at ``version`` (``bot.core.merge``'s
    reason), saying only what is true: "already has" names the version it has."""
    if s.reason in ("older", "duplicate"):
        have = s.winner_tag or "a newer version"
        newer = "" if s.reason == "duplicate" or have == version else " (newer)"
        where = f", in PR #{in_pr}" if in_pr is not None else ""
        return f"`{env}` already has `{image}` {have}{newer}{where}"
    if s.reason == "ignored":
        return f"`{image}` {version} is ignored in `{env}` (`unignore` on its PR lifts that)"
    if s.reason == "scheme":
        have = f" (it has {s.winner_tag})" if s.winner_tag else ""
        return f"`{env}` orders `{image}` by another version scheme{have}"
    assert_never(s.reason)


def promotion_text(
    target: str, moved: Sequence[Moved], skipped: Sequence[Skipped]
) -> tuple[str, tuple[str, ...]]:
    """The reply to ``promote``: what moved (with the PR that carries it), then what did not, each
    with its reason, each list by image. Only what moved is named in the first line."""
    moved = sorted(moved, key=lambda m: m.image)
    skipped = sorted(skipped, key=lambda s: s.image)
    lines = []
    for m in moved:
        where = f"#{m.pr}" if m.pr is not None else "its PR is being prepared"
        lines.append(f"`{m.image}` {m.version} → group `{m.group}` in `{m.repo}`: {where}")
        if m.also:
            others = ", ".join(f"`{a}`" for a in m.also)
            lines.append(f"`{m.shared}` is shared: it also moves {others} to {m.version}")
    lines += [f"skipped `{s.image}` {s.version}: {s.reason}" for s in skipped]
    if not moved:
        return f"nothing promoted to `{target}`", tuple(lines)
    what = ", ".join(
        dict.fromkeys(
            f"`{m.image}` {m.version}" + "".join(f", `{a}` {m.version}" for a in m.also) for m in moved
        )
    )
    return f"promoting {what} to `{target}`", tuple(lines)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one command did, in words (``ok`` False means it failed; the reaction is 😕)."""

    command: Command
    ok: bool
    message: str
    details: tuple[str, ...] = field(default_factory=tuple)
    #: reply even on success (help, status, promote, rollback); failures always reply
    speak: bool = False


def reply_text(outcomes: Sequence[Outcome], waited_s: float | None = None) -> str:
    """One reply for a whole comment: a line per command, in order."""
    lines: list[str] = []
    for outcome in outcomes:
        mark = "✅" if outcome.ok else "❌"
        lines.append(f"{mark} {code(outcome.command.text)}: {outcome.message}")
        for detail in outcome.details:  # blocks (tables, help) stand on their own
            lines += ["", detail] if "\n" in detail else [f"  - {detail}"]
    if waited_s is not None and waited_s >= 0.05:
        lines += ["", waited_text(waited_s)]
    return "\n".join(lines)

"""Every PR title, body, commit message and PR comment the bot writes (pure, golden-tested).

The body ends with the hidden marker (``bot.core.marker``). ``error_comment`` is the one place that
turns ``bot.errors`` into PR comment text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.core.group_state import GroupState
from bot.core.intents import UpdateIntent
from bot.core.marker import Marker, render_marker
from bot.errors import (
    AuthError,
    BotError,
    ConfigError,
    Conflict,
    ManifestError,
    NotFound,
    PermissionDenied,
    RateLimited,
    Transient,
    ValidationFailed,
)

DEFAULT_PREFIX = "/manifest-bot"
MAX_TITLE = 200
_ONE_TO = "{image} to {tag}"
_HUB_PREFIXES = ("docker.io/library/", "docker.io/")


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the PR table: a scalar the bot changed."""

    file: str
    image: str
    old: str
    new: str
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class BodyInput:
    intents: Sequence[UpdateIntent]
    rows: Sequence[Row]
    marker: Marker
    state: GroupState = field(default_factory=GroupState)
    command_prefix: str = DEFAULT_PREFIX


# --- small helpers ------------------------------------------------------------------------------
def short_image(name: str) -> str:
    for prefix in _HUB_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _version(intent: UpdateIntent) -> str:
    if intent.tag:
        return intent.tag
    return (intent.digest or "?")[:19]


def _code(text: str) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _distinct(intents: Sequence[UpdateIntent]) -> list[UpdateIntent]:
    seen: dict[tuple[str, str], UpdateIntent] = {}
    for intent in intents:
        seen.setdefault((intent.image, _version(intent)), intent)
    return sorted(seen.values(), key=lambda i: (i.image, _version(i)))


def _fill(template: str, intents: Sequence[UpdateIntent]) -> str:
    """The template for one image; several are summarised (``a to 1, b to 2`` or ``N images``)."""
    first = intents[0]
    env = first.environment or first.group
    many = _distinct(intents)
    if len(many) == 1:
        image, tag = short_image(many[0].image), _version(many[0])
    else:
        parts = [f"{short_image(i.image)} to {_version(i)}" for i in many]
        summary = ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) <= 3 else f"{len(many)} images"
        if _ONE_TO in template:
            template = template.replace(_ONE_TO, summary.replace("{", "{{").replace("}", "}}"))
        image, tag = f"{len(many)} images", ", ".join(_version(i) for i in many)
    values = {"env": env, "group": first.group, "image": image, "tag": tag, "count": len(many)}
    try:
        text = template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"PR template {template!r} is invalid: {exc!r}") from None
    return text.splitlines()[0][:MAX_TITLE] if text.strip() else f"chore({env}): update images"


# --- title, commit message, body ----------------------------------------------------------------
def pr_title(intents: Sequence[UpdateIntent]) -> str:
    return _fill(intents[0].pr.title_template, intents)


def commit_message(intents: Sequence[UpdateIntent], rows: Sequence[Row]) -> str:
    lines = [_fill(intents[0].pr.commit_template, intents), ""]
    lines += [f"- {r.file}: {r.old} -> {r.new}" for r in rows]
    return "\n".join(lines) + "\n"


def _links(intents: Sequence[UpdateIntent], rows: Sequence[Row]) -> list[str]:
    out = []
    for intent in _distinct(intents):
        origin, parts = intent.origin, []
        if origin.link:
            parts.append(f"[CI run]({origin.link})")
        if origin.app_repo and origin.commit:
            web = origin.app_repo if "://" in origin.app_repo else f"https://github.com/{origin.app_repo}"
            sep = "/-/" if "gitlab" in web else "/"
            old = next((r.old.rsplit(":", 1)[-1] for r in rows if r.image == intent.image), None)
            if old and intent.tag and old != intent.tag and "/" not in old:
                parts.append(f"[changes]({web}{sep}compare/{old}...{intent.tag})")
            parts.append(f"[commit {origin.commit[:12]}]({web}{sep}commit/{origin.commit})")
        if parts:
            out.append(f"- {_code(short_image(intent.image))} {_version(intent)}: " + " · ".join(parts))
    return out


def _state_lines(state: GroupState) -> list[str]:
    out = []
    if state.pinned:
        out += ["", "**Pinned:**"]
        out += [f"- {_code(short_image(p.image))} at {_code(p.tag or p.digest or '?')}" for p in state.pinned]
    if state.ignored:
        out += ["", "**Ignored:**"]
        out += [f"- {m.label or _code(short_image(m.image))}" for m in state.ignored]
    if state.hold:
        out += ["", "**On hold:** no automatic updates or merges until `unhold`."]
    if state.last_error:
        out += ["", f"> [!WARNING]\n> The last update failed: {state.last_error.splitlines()[0]}"]
    return out


def command_help(prefix: str = DEFAULT_PREFIX) -> str:
    commands = ("rebase", "recreate", "hold", "unhold", "merge", "ignore this version", "pin <tag>", "help")
    listed = ", ".join(f"`{prefix} {c}`" for c in commands)
    return f"<details><summary>Commands</summary>\n\nComment one per line: {listed}.\n</details>"


def pr_body(data: BodyInput) -> str:
    first = data.intents[0]
    env = first.environment or first.group
    lines = [
        f"Updates **{env}** (group {_code(first.group)}) in {_code(first.repo)} "
        f"on {_code(first.base_branch)}.",
        "",
        "| File | Image | Old → New | Digest |",
        "|---|---|---|---|",
    ]
    for row in data.rows:
        digest = _code(row.digest[:19] + "…") if row.digest else ""
        lines.append(
            f"| {_code(row.file)} | {_code(short_image(row.image))} | {_code(row.old)} → {_code(row.new)} "
            f"| {digest} |"
        )
    links = _links(data.intents, data.rows)
    if links:
        lines += ["", "**Source:**", *links]
    lines += _state_lines(data.state)
    lines += ["", command_help(data.command_prefix), "", render_marker(data.marker)]
    return "\n".join(lines) + "\n"


# --- comments -----------------------------------------------------------------------------------
def blocked_comment(authors: Sequence[str], shas: Sequence[str], prefix: str = DEFAULT_PREFIX) -> str:
    who = ", ".join(sorted(set(authors))) or "someone else"
    commits = ", ".join(s[:12] for s in shas)
    return (
        f"This branch has commits by {who} ({commits}), so I stopped updating it to keep their work.\n\n"
        f"Comment `{prefix} rebase` to regenerate it on the current base (their changes are kept on "
        f"top when they touch other files than mine), or `{prefix} recreate` to start over."
    )


def already_applied_comment(base_branch: str, base_sha: str) -> str:
    return (
        f"`{base_branch}` ({base_sha[:12]}) already has every version this PR would set, so I am closing it."
    )


def nothing_wanted_comment() -> str:
    return "Every version in this PR is now ignored or pinned to what the base has, so I am closing it."


def carried_comment(kept: Sequence[str], dropped: Sequence[str]) -> str:
    lines = ["I regenerated this branch on the current base."]
    if kept:
        lines.append("Kept on top, as a separate commit: " + ", ".join(_code(p) for p in kept) + ".")
    if dropped:
        lines.append(
            "Dropped, because they overlap my edits or changed on the base meanwhile: "
            + ", ".join(_code(p) for p in dropped)
            + ". Please apply them again if they are still needed."
        )
    return "\n\n".join(lines)


def error_comment(error: BaseException) -> str:
    """The one mapping from our errors to PR comment text (never a traceback or a secret)."""
    if isinstance(error, ManifestError):
        where = error.file or "a manifest"
        if error.line is not None:
            where += f":{error.line}"
        return f"I could not edit {_code(where)} safely: {error.reason}. Nothing was written."
    if isinstance(error, ConfigError):
        return "The manifest-bot configuration is invalid:\n\n" + "\n".join(f"- {p}" for p in error.problems)
    if isinstance(error, RateLimited):
        wait = f" in about {round(error.retry_after)} s" if error.retry_after else ""
        return f"The forge is rate limiting me; I will try again{wait}."
    if isinstance(error, Transient | Conflict):
        return f"A temporary problem stopped this update ({error.message}); I will try again."
    if isinstance(error, AuthError):
        return "I could not authenticate to the forge. An administrator needs to check my credentials."
    if isinstance(error, PermissionDenied):
        return f"I am not allowed to do this on this repository: {error.message}"
    if isinstance(error, NotFound):
        return f"Something I need is missing: {error.message}"
    if isinstance(error, ValidationFailed):
        return f"The forge rejected my request: {error.message}"
    if isinstance(error, BotError):
        return f"This update failed: {error.message}"
    return "This update failed because of an internal error; the details are in the bot's logs."

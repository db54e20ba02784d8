"""Every PR title, body, commit message and PR comment the bot writes (pure, golden-tested).

The body ends with the hidden marker (``bot.core.marker``). ``error_comment`` is the one place that
turns ``bot.errors`` into PR comment text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.core.group_state import GroupState
from bot.core.images import DIGEST_RE, canonical_name
from bot.core.intents import UpdateIntent
from bot.core.marker import Marker, render_marker, tag_of
from bot.core.pr_options import DEFAULT_PR, PrOptions
from bot.core.release_notes import ImageNotes, notes_lines
from bot.core.templates import TemplateProblem, is_jinja
from bot.core.templates import render as render_template
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
#: titles are cut at a word boundary near this length (GitHub shows about 72 characters in lists)
MAX_TITLE = 72
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
    #: where the changed images come from (``bot.core.release_notes``); () leaves the section out
    notes: Sequence[ImageNotes] = ()
    #: ``pr.body_template`` (Jinja): replaces the summary, table and source links
    template: str | None = None


@dataclass(frozen=True, slots=True)
class _Wording:
    """A title: the template, and the phrase repeated per image when there are several."""

    template: str
    phrase: str


#: chat-ops rollbacks and promotions have their own wording; the config's templates word bumps
_ROLLBACK = _Wording("chore({env}): roll back {what}", "{short_image} from {old} to {tag}")
_PROMOTE = _Wording("chore({env}): promote {what} from {from_env}", "{short_image} {tag}")
_BUMP_PHRASES = ("{short_image} to {tag}", "{image} to {tag}")


# --- small helpers ------------------------------------------------------------------------------
def short_image(name: str) -> str:
    """An image as people write it: Docker Hub's ``docker.io/library/`` and ``docker.io/`` dropped."""
    for prefix in _HUB_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def base_name(name: str) -> str:
    """The last path segment of an image, for titles (``ghcr.io/acme/api`` → ``api``)."""
    return name.rsplit("/", 1)[-1]


def _short_digest(digest: str) -> str:
    return digest[:19] + "…" if len(digest) > 19 else digest


def _version(intent: UpdateIntent) -> str:
    if intent.tag:
        return intent.tag
    return _short_digest(intent.digest or "?")


def _shown(value: str) -> str:
    """A replaced scalar as the table shows it: its tag, else (a digest, a bare name) the value."""
    tag = tag_of(value)
    if tag is not None:
        return tag
    digest = value.rsplit("@", 1)[-1]
    return _short_digest(digest) if DIGEST_RE.fullmatch(digest) else value


def _code(text: str) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _distinct(intents: Sequence[UpdateIntent]) -> list[UpdateIntent]:
    seen: dict[tuple[str, str], UpdateIntent] = {}
    for intent in intents:
        seen.setdefault((intent.image, _version(intent)), intent)
    return sorted(seen.values(), key=lambda i: (i.image, _version(i)))


def _changed(intents: Sequence[UpdateIntent], rows: Sequence[Row]) -> list[UpdateIntent]:
    """The intents whose image the diff changes (all of them when nothing is written yet)."""
    images = {r.image for r in rows}
    return [i for i in intents if i.image in images] or list(intents)


def _old(intent: UpdateIntent, rows: Sequence[Row]) -> str:
    """The tag the base had for the intent's image ("?" when the edit inserted it)."""
    old = next((r.old for r in rows if r.image == intent.image and r.old), "")
    return _shown(old) if old else "?"


def _cut(text: str) -> str:
    """The first line, cut at a word boundary near MAX_TITLE."""
    line = text.splitlines()[0] if text.strip() else ""
    if len(line) <= MAX_TITLE:
        return line
    head = line[: MAX_TITLE - 1]
    space = head.rfind(" ")
    return (head[:space] if space >= MAX_TITLE // 2 else head).rstrip(" ,;:") + "…"


# --- title and commit subject -----------------------------------------------------------------------
def _wording(intents: Sequence[UpdateIntent], template: str) -> _Wording:
    if all(i.rollback for i in intents):
        return _ROLLBACK
    if all(i.origin.from_environment for i in intents):
        return _PROMOTE
    phrase = next((p for p in _BUMP_PHRASES if p in template), _BUMP_PHRASES[0])
    return _Wording(template, phrase)


def _values(intent: UpdateIntent, rows: Sequence[Row]) -> dict[str, str]:
    return {
        "image": short_image(intent.image),
        "short_image": base_name(intent.image),
        "tag": _version(intent),
        "old": _old(intent, rows),
    }


def _format(template: str, values: dict[str, object]) -> str:
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"PR template {template!r} is invalid: {exc!r}") from None


def _fill(template: str, intents: Sequence[UpdateIntent], rows: Sequence[Row]) -> str:
    """The title for the changed images: one is named; two or three are listed; more are counted,
    as are lists too long for a title."""
    many = _distinct(_changed(intents, rows))
    first = many[0]
    wording = _wording(many, template)
    common: dict[str, object] = {
        "env": first.environment or first.group,
        "group": first.group,
        "count": len(many),
        "from_env": first.origin.from_environment or "",
    }
    if len(many) == 1:
        values = {**common, **_values(first, rows)}
        values["what"] = _format(wording.phrase, values)
        return _cut(_format(wording.template, values))
    phrases = [_format(wording.phrase, {**common, **_values(i, rows)}) for i in many]
    listed = ", ".join(phrases[:-1]) + f" and {phrases[-1]}"
    counted = f"{len(many)} images"
    tags = [_version(i) for i in many]
    olds = [_old(i, rows) for i in many]
    summary = {**common, "image": counted, "short_image": counted, "tag": _one(tags), "old": _one(olds)}
    for what in ([listed] if len(many) <= 3 else []) + [counted]:
        template_now = wording.template.replace(wording.phrase, "{what}")
        text = _format(template_now, {**summary, "what": what})
        if len(text) <= MAX_TITLE or what == counted:
            return _cut(text)
    raise AssertionError("unreachable: the counted form is always returned")


def _one(values: Sequence[str]) -> str:
    """What several images' ``{tag}`` or ``{old}`` says: their one version, else how many."""
    distinct = list(dict.fromkeys(values))
    return distinct[0] if len(distinct) == 1 else f"{len(distinct)} versions"


def pr_title(
    intents: Sequence[UpdateIntent], rows: Sequence[Row] = (), options: PrOptions = DEFAULT_PR
) -> str:
    """The title, naming only the images the diff changes (``rows``) by their short names."""
    return _fill(options.title_template, intents, rows)


def commit_message(
    intents: Sequence[UpdateIntent], rows: Sequence[Row], options: PrOptions = DEFAULT_PR
) -> str:
    """The subject from the ``{placeholder}`` template and the list of edits; or, for a Jinja
    ``commit_template``, the whole message it renders (``bot.core.templates``)."""
    if is_jinja(options.commit_template) and not _bot_worded(intents):
        text = _rendered(options.commit_template, intents, rows, "commit_template").strip("\n")
        if not text.strip():
            raise ConfigError("pr.commit_template: renders an empty commit message")
        return text + "\n"
    lines = [_fill(_subject_template(options.commit_template), intents, rows), ""]
    lines += [f"- {r.file}: {r.old} -> {r.new}" for r in rows]
    return "\n".join(lines) + "\n"


def _bot_worded(intents: Sequence[UpdateIntent]) -> bool:
    """Rollbacks and promotions have the bot's own wording, whatever the templates say."""
    return all(i.rollback for i in intents) or all(i.origin.from_environment for i in intents)


def _subject_template(template: str) -> str:
    """A Jinja commit template's subject for a rollback or promotion: the default wording."""
    return DEFAULT_PR.commit_template if is_jinja(template) else template


# --- body ----------------------------------------------------------------------------------------
def repo_web_url(intent: UpdateIntent) -> tuple[str, str] | None:
    """(web URL of the app repository that was built, the forge's path separator) from where the
    build ran: a GitHub or GitHub Enterprise run link, a GitLab pipeline link, else the repo name
    GitHub sends. None when the source does not say (a registry push, CDEvents)."""
    origin = intent.origin
    link = origin.link or ""
    for marker, sep in (("/actions/runs/", "/"), ("/-/pipelines/", "/-/")):
        if marker in link and link.startswith(("https://", "http://")):
            return link.split(marker, 1)[0], sep
    repo = origin.app_repo or ""
    if repo.startswith(("https://", "http://")):
        return repo.rstrip("/"), "/-/" if origin.source == "gitlab" else "/"
    if repo and origin.source == "github":
        return f"https://github.com/{repo}", "/"
    return None


def source_links(intent: UpdateIntent, rows: Sequence[Row]) -> list[tuple[str, str]]:
    """(text, url) of where a version comes from: the source PR or CI run, the release's
    changes, the commit."""
    origin, parts = intent.origin, []
    if origin.from_pr is not None and origin.link:
        parts.append((f"source PR #{origin.from_pr}", origin.link))
    elif origin.link:
        parts.append(("CI run", origin.link))
    web = repo_web_url(intent)
    if web is not None and origin.commit:
        url, sep = web
        old = _old(intent, rows)
        # image tags name git tags only for releases: a run number or a sha is no git ref
        if old != "?" and intent.tag and old != intent.tag and intent.ordering_scheme == "semver":
            parts.append(("changes", f"{url}{sep}compare/{old}...{intent.tag}"))
        parts.append((f"commit {origin.commit[:12]}", f"{url}{sep}commit/{origin.commit}"))
    return parts


def _links(intents: Sequence[UpdateIntent], rows: Sequence[Row]) -> list[str]:
    out = []
    for intent in _distinct(_changed(intents, rows)):
        parts = [f"[{text}]({url})" for text, url in source_links(intent, rows)]
        if parts:
            out.append(f"- {_code(short_image(intent.image))} {_version(intent)}: " + " · ".join(parts))
    return out


def template_context(intents: Sequence[UpdateIntent], rows: Sequence[Row]) -> dict[str, Any]:
    """What ``pr.commit_template`` and ``pr.body_template`` see (``bot.core.templates.SAMPLE``'s
    shape): the group, every edited value and every changed image with its source links."""
    changed = _distinct(_changed(intents, rows))
    first = changed[0]

    def links(intent: UpdateIntent) -> list[dict[str, str]]:
        return [{"text": text, "url": url} for text, url in source_links(intent, rows)]

    by_image = {i.image: i for i in changed}
    changes = [
        {
            "file": r.file,
            "image": short_image(r.image),
            "short_image": base_name(r.image),
            "old": _shown(r.old) if r.old else "",
            "new": _shown(r.new),
            "digest": r.digest,
            "links": links(by_image[r.image]) if r.image in by_image else [],
        }
        for r in rows
    ]
    images = [
        {
            "image": short_image(i.image),
            "short_image": base_name(i.image),
            "old": "" if _old(i, rows) == "?" else _old(i, rows),
            "new": _version(i),
            "digest": i.digest,
            "links": links(i),
        }
        for i in changed
    ]
    return {
        "env": first.environment or first.group,
        "group": first.group,
        "repo": first.repo,
        "base_branch": first.base_branch,
        "count": len(changed),
        "changes": changes,
        "images": images,
    }


def _rendered(template: str, intents: Sequence[UpdateIntent], rows: Sequence[Row], what: str) -> str:
    try:
        return render_template(template, template_context(intents, rows))
    except TemplateProblem as exc:
        raise ConfigError(f"pr.{what}: {exc}") from None


def _request_line(intents: Sequence[UpdateIntent], rows: Sequence[Row]) -> list[str]:
    """For a rollback or a promotion: what was asked, by whom, where."""
    changed = _distinct(_changed(intents, rows))
    first = changed[0]
    origin = first.origin
    by = f", requested by @{origin.actor}" if origin.actor else ""
    where = f" in #{origin.from_pr}" if origin.from_pr is not None else ""
    names = ", ".join(_code(short_image(i.image)) for i in changed)
    if all(i.rollback for i in changed):
        what = "; ".join(
            f"{_code(short_image(i.image))} from {_code(_old(i, rows))} to {_code(_version(i))}"
            for i in changed
        )
        return [f"**Rollback** of {what}{by}{where}.", ""]
    if origin.from_environment:
        env = first.environment or first.group
        return [f"**Promotion** of {names} from **{origin.from_environment}** to **{env}**{by}{where}.", ""]
    return []


def _state_lines(state: GroupState, intents: Sequence[UpdateIntent]) -> list[str]:
    out = []
    # a pin is listed where it is written: on the PR of a group that has a version of its image
    images = {canonical_name(i.image) for i in intents}
    pinned = [p for p in state.pinned if canonical_name(p.image) in images]
    if pinned:
        out += ["", "**Pinned:**"]
        out += [f"- {_code(short_image(p.image))} at {_code(p.tag or p.digest or '?')}" for p in pinned]
    if state.ignored:
        out += ["", "**Ignored:**"]
        out += [f"- {m.label or _code(short_image(m.image))}" for m in state.ignored]
    if state.hold:
        out += ["", "**On hold:** no automatic updates or merges until `unhold`."]
    absent = [w for w in state.waiting if not w.eligible]
    if absent:
        out += ["", "**Not in the registry yet** (asked again with backoff; nothing is written until it is):"]
        out += [
            f"- waiting for {_code(f'{short_image(w.image)}:{w.tag}')} in {_code(w.registry)} until {w.until}"
            for w in absent
        ]
    young = [w for w in state.waiting if w.eligible]
    if young:
        out += ["", "**Too new** (`policy.min_release_age`; written once old enough):"]
        out += [f"- {_code(f'{short_image(w.image)}:{w.tag}')} from {w.eligible}" for w in young]
    if state.last_error:  # what this update could not make (``bot.services.desired``)
        out += ["", "> [!WARNING]\n> Not updated (the rest of this PR went ahead):"]
        out += [f"> - {line}" for line in state.last_error.splitlines()[:MAX_PROBLEMS_SHOWN]]
    return out


#: problem lines a PR body lists (the status page has every one)
MAX_PROBLEMS_SHOWN = 20


def command_help(prefix: str = DEFAULT_PREFIX) -> str:
    commands = ("rebase", "recreate", "hold", "unhold", "merge", "ignore this version", "pin <tag>", "help")
    listed = ", ".join(f"`{prefix} {c}`" for c in commands)
    return f"<details><summary>Commands</summary>\n\nComment one per line: {listed}.\n</details>"


def pr_body(data: BodyInput) -> str:
    first = data.intents[0]
    env = first.environment or first.group
    lines = [*_request_line(data.intents, data.rows)]
    if data.template is not None:  # the user's words over the change, then the bot's sections
        lines.append(_rendered(data.template, data.intents, data.rows, "body_template").strip("\n"))
    else:
        lines += [
            f"Updates **{env}** (group {_code(first.group)}) in {_code(first.repo)} "
            f"on {_code(first.base_branch)}.",
            "",
            "| File | Image | Old → New | Digest |",
            "|---|---|---|---|",
        ]
        for row in data.rows:
            digest = _code(_short_digest(row.digest)) if row.digest else ""
            lines.append(
                f"| {_code(row.file)} | {_code(short_image(row.image))} "
                f"| {_code(_shown(row.old)) if row.old else '—'} → {_code(_shown(row.new))} | {digest} |"
            )
        links = _links(data.intents, data.rows)
        if links:
            lines += ["", "**Source:**", *links]
    lines += notes_lines(data.notes, short_image)
    lines += _state_lines(data.state, data.intents)
    lines += _update_lines(data.marker, first.base_branch, data.command_prefix)
    lines += ["", command_help(data.command_prefix), "", render_marker(data.marker)]
    return "\n".join(lines) + "\n"


def _update_lines(marker: Marker, base_branch: str, prefix: str) -> list[str]:
    """How the last update reached the branch, and whether the branch is on the base head."""
    out = []
    if marker.update == "appended":
        out.append("This update added a commit to the branch (nothing was force-pushed: reviews stay).")
    elif marker.update == "regenerated":
        out.append(
            f"This update rebuilt the branch on {_code(base_branch)} ({_code((marker.base or '')[:12])})."
        )
    if marker.checked is not None and marker.checked != marker.base:
        built = _code((marker.base or "")[:12])
        out.append(
            f"{_code(base_branch)} has moved on since the branch was built on {built}; "
            f"it is rebuilt as `pr.rebase` says (by default when {_code(base_branch)} changes a file this PR "
            f"edits), or when you comment `{prefix} rebase`."
        )
    return ["", *out] if out else []


def rebase_never_comment(
    base_branch: str, base_sha: str, files: Sequence[str], prefix: str = DEFAULT_PREFIX
) -> str:
    changed = ", ".join(_code(f) for f in files) or "files this PR edits"
    return (
        f"{_code(base_branch)} ({base_sha[:12]}) changed {changed} since this branch was built, and "
        f"`pr.rebase` is `never`, so I left the branch as it is and wrote no update to it.\n\n"
        f"Comment `{prefix} rebase` to rebuild it on the current base."
    )


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


def gave_up_comment(image: str, tag: str, registry: str, waited: str, reason: str) -> str:
    """A verified version never showed up in its registry (``bot.services.registry_gate``)."""
    return (
        f"I waited {waited} for {_code(f'{short_image(image)}:{tag}')} in {_code(registry)}, but {reason}, "
        "so I did not write it. Push the image and announce it again (re-run the CI job or the "
        "webhook) to try once more."
    )


def registry_error_comment(image: str, tag: str, registry: str, message: str) -> str:
    """The registry refused to say whether a version exists (credentials, permissions)."""
    return (
        f"I could not check {_code(f'{short_image(image)}:{tag}')} in {_code(registry)}, so I did not "
        f"write it: {message}. An administrator needs to check the bot's registry credentials "
        "(`MANIFEST_BOT_DOCKER_CONFIG`); the next push or poll tries again."
    )


def platforms_comment(image: str, tag: str, listed: Sequence[str], absent: Sequence[str]) -> str:
    """A version's image lacks platforms ``policy.platforms`` requires (``bot.services.registry_gate``)."""
    has = ", ".join(_code(p) for p in listed) or "no platform"
    return (
        f"I did not write {_code(f'{short_image(image)}:{tag}')}: its image is built for {has}, and "
        f"`policy.platforms` also needs {', '.join(_code(p) for p in absent)}. A build that lists every "
        "platform is written when it is announced."
    )


def repo_file_comment(problems: Sequence[str]) -> str:
    """A manifest repo's own config file asks for settings it cannot have (said once per PR)."""
    lines = [
        "I left out these settings of this repository's manifest-bot file; the rest of it applies:",
        "",
        *(f"- {_code(p)}" for p in problems),
        "",
        "Fix the file on the base branch and the next update follows it.",
    ]
    return "\n".join(lines)


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

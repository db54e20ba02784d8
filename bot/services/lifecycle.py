"""One PR per update group, found, opened, updated, regenerated or closed — never duplicated.

``sync_group`` is level-triggered: it compares the group's desired state (intents applied to the
current base) with the bot's branch and PR and writes only the difference. Run twice, the second
run reads two things (base head, PR) and writes nothing. Branch writes are compare-and-swap; a lost
race raises ``Conflict`` for the caller to observe again. No error is swallowed.

Branch ``<branch_prefix>/<env>/<group>``; the PR is found by that branch and the hidden marker.
The marker also carries the group's people's decisions (``bot.core.kept``); they are written with
every PR update, and when nothing else changed but them (a hold, a comment whose commands ran),
only the marker is: one body update, and none when they are already there. A caller whose Redis
lost the group (``rebuild=True``) gets the decisions of the group's PR back (action ``rebuild``:
its open PR, else the newest of its branch) before anything is written with the empty state it
has.
A branch carrying commits by anyone but the bot is left alone (one comment, then ``blocked``) until
``force=True``; then the bot regenerates it and keeps their file changes as a follow-up commit when
they do not overlap its own edits (and the base did not change those files), else drops them and
says so. ``recreate=True`` discards everything and starts over.

A branch only the bot wrote is updated by appending a commit on its head (no force-push, so the
forge keeps the approvals) unless ``pr.rebase`` says to rebuild it on a base that moved:
``conflicted`` when the base changed a file the PR edits, ``auto`` also whenever the PR
auto-merges, ``never`` not at all (the PR says so once, and ``rebase`` rebuilds it). The marker
keeps the base the branch is built on and, apart, the base head it was last checked against.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from bot.core.floors import Floor, FloorReader, Ref
from bot.core.group_state import GroupState
from bot.core.intents import UpdateIntent
from bot.core.kept import Decisions
from bot.core.manifests.model import Change
from bot.core.marker import Marker, marker_prefix, marker_problem, parse_marker, replace_marker, versions_of
from bot.core.ports import (
    ChangedFiles,
    CommitInfo,
    FileChange,
    Forge,
    Observation,
    Observer,
    PrUpdate,
    PullRequest,
)
from bot.core.pr_options import PrOptions
from bot.core.render import (
    DEFAULT_PREFIX,
    BodyInput,
    already_applied_comment,
    blocked_comment,
    carried_comment,
    commit_message,
    nothing_wanted_comment,
    pr_body,
    pr_title,
    rebase_never_comment,
)
from bot.core.wanted import effective_intents, pin_applies
from bot.errors import ConfigError, Conflict, NotFound
from bot.services.desired import Desired, content_digest, desired_state, fingerprint
from bot.services.files import ScanCache
from bot.services.release_notes import NotesSource, no_notes

log = logging.getLogger(__name__)

Action = Literal["opened", "updated", "noop", "regenerated", "closed", "blocked", "pushed", "held", "rebuild"]
#: The group's PR options from the routing config as it is now. Called with the base commit the
#: PR is built on (a manifest repo's own file is read at that commit), and with None before the
#: base is known, for the branch prefix and mode, which a repo file may not change.
PrConfig = Callable[[str | None], PrOptions]


def default_pr(_base_sha: str | None) -> PrOptions:
    return PrOptions()


@dataclass(frozen=True, slots=True)
class SyncResult:
    action: Action
    pr: PullRequest | None
    commit: str | None  # the branch head after the call (None when there is no branch)
    changes: tuple[Change, ...]  # what the written commit changes vs the base; () when nothing written
    base_sha: str
    kept: tuple[str, ...] = ()  # people's files carried over a regeneration
    dropped: tuple[str, ...] = ()  # people's files (or commits) dropped by a regeneration
    unmatched: tuple[str, ...] = ()  # images whose selectors matched nothing
    #: intents that failed and files discovery skipped (None: not evaluated, e.g. a fast no-op)
    problems: tuple[str, ...] | None = None
    #: with action ``rebuild``: the decisions the PR's marker kept
    found: Decisions | None = None
    #: the effective intents the branch now holds over the base (None: not evaluated, e.g. a
    #: fast no-op or a hold, which leave the branch as it was)
    written: tuple[UpdateIntent, ...] | None = None
    #: why images of the PR body have no (or only part of their) release notes (None: the body
    #: was not rendered)
    notes_left_out: tuple[str, ...] | None = None
    #: with action ``blocked``: why the bot stopped writing the branch (None: a person committed)
    why: str | None = None
    #: the marks of the references the branch (the base, when pushed) now holds, once they land
    #: (``Desired.landed``; None: not evaluated, e.g. a fast no-op or a hold), and the intents
    #: every reference of which already had a higher version (``Desired.below``)
    landed: Mapping[Ref, Floor] | None = None
    below: tuple[tuple[UpdateIntent, str, Floor], ...] = ()
    #: targets of overlapping rules whose references another intent of the image wrote (target key
    #: → that intent: ``Desired.covered``)
    covered: Mapping[str, UpdateIntent] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Seen(Observation):
    observed: bool = False  # False: only ``base_sha`` was read; the rest is asked when needed


@dataclass(frozen=True, slots=True)
class _Ctx:
    forge: Forge
    intents: tuple[UpdateIntent, ...]  # effective (ignores and pins applied)
    first: UpdateIntent
    state: GroupState
    base_sha: str
    branch: str
    fp: str
    prefix: str
    options: PrOptions
    decisions: Decisions
    seen: _Seen  # what was read before deciding
    notes: NotesSource
    floors: FloorReader | None
    exempt: frozenset[str]

    def desired(self, cache: ScanCache | None) -> Desired:
        return desired_state(
            self.forge, self.intents, self.base_sha, cache=cache, floors=self.floors, exempt=self.exempt
        )

    @property
    def repo(self) -> str:
        return self.first.repo

    def head(self) -> str | None:
        """The tip of the group's branch (None: no such branch), read once per sync."""
        return self.seen.head_sha if self.seen.observed else self.forge.branch_head(self.repo, self.branch)


def sync_group(
    forge: Forge,
    intents: Sequence[UpdateIntent],
    *,
    pr_config: PrConfig = default_pr,
    head_branch: str | None = None,
    state: GroupState | None = None,
    force: bool = False,
    recreate: bool = False,
    command_prefix: str = DEFAULT_PREFIX,
    cache: ScanCache | None = None,
    decisions: Decisions | None = None,
    rebuild: bool = False,
    notes: NotesSource = no_notes,
    floors: FloorReader | None = None,
) -> SyncResult:
    """``head_branch``: the open PR's branch when the caller knows it (a changed branch prefix
    leaves an open PR on its branch; the group's next PR takes the new one). ``decisions``: what
    the marker keeps (default: ``state``'s and the chat-ops intents'); the comments the PR's
    marker already records as run are kept in it. ``rebuild``: the caller has no record of the
    group; when its open PR (else the newest of its branch: one more read) is the bot's and its
    marker keeps decisions, they are returned at once (action ``rebuild``), nothing written.
    ``notes``: the release notes of the images the body names (``bot.services.release_notes``).
    ``floors``: the marks of the references versions landed at on this base branch
    (``bot.core.floors``); no rule's version is written below them (a pin, a rollback is)."""
    if not intents:
        raise ValueError("sync_group needs at least one intent (the group's, even if all are ignored)")
    keys = {i.group_key for i in intents}
    if len(keys) != 1:
        raise ValueError(f"intents of several groups given to sync_group: {sorted(keys)}")
    state = state or GroupState()
    first = intents[0]
    central = pr_config(None)
    branch = head_branch or central.branch(first.environment, first.group)
    push_mode = central.mode == "push"
    seen = _observe(forge, first, branch, push_mode=push_mode)
    base_sha, pr = seen.base_sha, seen.pr
    if base_sha is None:
        raise NotFound(f"{first.repo}: base branch {first.base_branch} does not exist")
    if not push_mode and not seen.observed:
        pr = forge.find_pr(first.repo, branch, marker_prefix(first.group_key))
    if rebuild and not push_mode:
        # no open PR: the newest of the branch (merged, closed) kept what the group had decided
        last = (
            seen.last_pr
            if seen.observed
            else forge.last_pr(first.repo, branch, marker_prefix(first.group_key))
        )
        source = pr or last
        kept = kept_decisions(forge, source, first.group_key) if source is not None else None
        if source is not None and kept is not None and not kept.empty:
            return SyncResult("rebuild", source, source.head_sha, (), base_sha, found=kept)
    effective = tuple(effective_intents(intents, state))
    options = replace(pr_config(base_sha), branch_prefix=central.branch_prefix, mode=central.mode)
    previous = parse_marker(pr.body) if pr is not None else None
    wanted = decisions or Decisions.of(state, intents)
    if previous is not None and previous.decisions is not None:
        wanted = wanted.with_ran(previous.decisions.ran)
    ctx = _Ctx(
        forge,
        effective,
        first,
        state,
        base_sha,
        branch,
        fingerprint(effective, state, command_prefix, options),
        command_prefix,
        options,
        wanted,
        seen,
        notes,
        floors,
        frozenset(i.target_key for i in intents if pin_applies(i, state.pin_for(i.image))),
    )
    if state.hold and not (force or recreate):
        pr = _keep_decisions(ctx, pr)
        return SyncResult("held", pr, pr.head_sha if pr else None, (), base_sha)
    if push_mode:
        return _push(ctx, cache)
    marker = previous
    if pr and marker and not (force or recreate) and _unchanged(ctx, pr, marker):
        return SyncResult("noop", _keep_decisions(ctx, pr), pr.head_sha, (), base_sha)
    desired = ctx.desired(cache)
    if not desired.contents:
        result = _close_applied(ctx, pr, marker, desired, force=force)
    elif pr and marker and not (force or recreate) and _bot_owned(pr, marker):
        result = _sync_owned(ctx, pr, marker, desired)
    else:
        result = _sync_branch(ctx, pr, marker, desired, force=force, recreate=recreate)
    return replace(
        result,
        problems=desired.problems,
        written=desired.written,
        landed=desired.landed,
        below=desired.below,
        covered=desired.covered,
    )


def _observe(forge: Forge, first: UpdateIntent, branch: str, *, push_mode: bool) -> _Seen:
    """Base head and (in PR mode, when the forge can read them at once: ``Observer``) the bot's
    open PR, its branch's tip and the newest PR of the branch, in one request."""
    if not push_mode and isinstance(forge, Observer):
        seen = forge.observe(first.repo, first.base_branch, branch, marker_prefix(first.group_key))
        return _Seen(seen.base_sha, seen.pr, seen.head_sha, seen.last_pr, observed=True)
    return _Seen(forge.branch_head(first.repo, first.base_branch), None, None, None)


def kept_decisions(forge: Forge, pr: PullRequest, group_key: str) -> Decisions | None:
    """The decisions ``pr``'s marker keeps for ``group_key`` (none kept: empty), when the forge
    says the bot opened the PR and its marker names this group; None otherwise, and for a marker
    whose decisions were refused (logged)."""
    bot = forge.info.bot_login
    if pr.author is None or bot is None or pr.author.lower() != bot.lower():
        log.warning("PR #%s is not the bot's (opened by %s): its marker is not read", pr.number, pr.author)
        return None
    marker = parse_marker(pr.body)
    problem = marker_problem(pr.body)
    if problem is not None:
        log.warning("PR #%s of %s: %s; nothing is rebuilt from it", pr.number, group_key, problem)
    if marker is None or marker.group != group_key or marker.refused is not None:
        return None
    return marker.decisions or Decisions()


def _keep_decisions(ctx: _Ctx, pr: PullRequest | None) -> PullRequest | None:
    """Bring the decisions in ``pr``'s marker up to date, alone (nothing else is rewritten): one
    body update when they differ, none when they are there (or the PR carries no marker of ours:
    the next full update writes one)."""
    marker = parse_marker(pr.body) if pr is not None else None
    if pr is None or marker is None or marker.group != ctx.first.group_key:
        return pr
    if marker.refused is None and (marker.decisions or Decisions()) == ctx.decisions:
        return pr
    new = replace(marker, decisions=ctx.decisions, refused=None)
    return ctx.forge.update_pr(ctx.repo, pr.number, PrUpdate(body=replace_marker(pr.body, new)))


def _bot_owned(pr: PullRequest, marker: Marker) -> bool:
    """The branch head is still the commit the bot recorded: nobody pushed to it since, so its
    commits are the bot's and its files are the ones the marker describes (no need to read them)."""
    return (
        marker.state == "open"
        and bool(marker.content)
        and pr.head_sha is not None
        and (pr.head_sha == marker.head)
    )


def _sync_owned(ctx: _Ctx, pr: PullRequest, marker: Marker, desired: Desired) -> SyncResult:
    """Update or regenerate a branch only the bot wrote, from what the marker records."""
    head = pr.head_sha or ""
    behind = marker.base != ctx.base_sha
    carried = set(marker.carried)
    appendable = set(marker.files) <= set(desired.contents)
    on = ctx.base_sha  # the base the branch is built on after this update
    if behind and appendable and marker.base is not None and not ctx.options.rebuilds_on_any_base_move():
        under = _changed_under(ctx, marker, desired)
        if under == []:  # the base moved beside the PR's files: the branch stays on its base
            behind, on = False, marker.base
        elif ctx.options.rebase == "never":
            return _leave_conflicted(ctx, pr, marker, head, under)
    if (
        not behind
        and set(marker.files) == set(desired.contents)
        and marker.content == content_digest(desired.contents)
    ):
        return _publish(
            ctx,
            pr,
            desired,
            head,
            carried=marker.carried,
            action="noop",
            wrote=False,
            on=on,
            how=marker.update,
        )
    if not behind and appendable:
        return _append(ctx, pr, marker, desired, head, on=on)
    kept, dropped = _carry(ctx, head, desired, carried, foreign=(), old_base=marker.base if behind else None)
    sha = _write(ctx, desired, kept, head)
    if dropped:
        ctx.forge.comment(ctx.repo, pr.number, carried_comment(sorted(kept), dropped))
    action: Action = "regenerated" if behind else "updated"
    result = _publish(ctx, pr, desired, sha, carried=tuple(sorted(kept)), action=action, how="regenerated")
    return replace(result, dropped=tuple(dropped))


def _changed_under(ctx: _Ctx, marker: Marker, desired: Desired) -> list[str] | None:
    """The PR's files (its edits, people's carried files, what it now edits) the base changed
    since the branch's base; None when the forge cannot tell (then it counts as conflicting)."""
    if not isinstance(ctx.forge, ChangedFiles) or marker.base is None:
        return None
    moved = set(ctx.forge.changed_files(ctx.repo, marker.base, ctx.base_sha))
    return sorted(moved & (set(marker.files) | set(marker.carried) | set(desired.contents)))


def _leave_conflicted(
    ctx: _Ctx, pr: PullRequest, marker: Marker, head: str, under: list[str] | None
) -> SyncResult:
    """``pr.rebase: never`` and the base changed the PR's files: nothing is written to the branch;
    the PR is told once per base head (the marker records it), and ``rebase`` rebuilds it."""
    conflicts = tuple(under) if under is not None else ()
    why = "the base changed files this PR edits, and pr.rebase is never"
    if marker.checked == ctx.base_sha and marker.conflicts == conflicts:
        return SyncResult("blocked", _keep_decisions(ctx, pr), head, (), ctx.base_sha, why=why)
    ctx.forge.comment(
        ctx.repo, pr.number, rebase_never_comment(ctx.first.base_branch, ctx.base_sha, conflicts, ctx.prefix)
    )
    new = replace(marker, checked=ctx.base_sha, conflicts=conflicts, decisions=ctx.decisions, refused=None)
    pr = ctx.forge.update_pr(ctx.repo, pr.number, PrUpdate(body=replace_marker(pr.body, new)))
    return SyncResult("blocked", pr, head, (), ctx.base_sha, why=why)


def _append(
    ctx: _Ctx, pr: PullRequest, marker: Marker, desired: Desired, head: str, *, on: str
) -> SyncResult:
    """The branch is the bot's and stays on its base (``on``: the current base, or an older one
    the base moved on from beside the PR's files): one commit on top of its head (a fast-forward,
    no force-push), so the forge keeps the PR's approvals. Its tree is the one a regeneration
    would write: every file the branch changed is written again (the marker's files are all
    desired; the base did not change them since ``on``) and people's carried files stay as they
    are, unless the bot now edits one."""
    sha = ctx.forge.commit_files(
        ctx.repo,
        ctx.branch,
        parent=head,
        changes=_file_changes(desired.contents),
        message=commit_message(desired.written or ctx.intents, desired.rows, ctx.options),
        expected_head=head,
    )
    dropped = [p for p in marker.carried if p in desired.contents]
    if dropped:
        ctx.forge.comment(
            ctx.repo, pr.number, carried_comment(sorted(set(marker.carried) - set(dropped)), dropped)
        )
    carried = tuple(sorted(set(marker.carried) - set(dropped)))
    result = _publish(ctx, pr, desired, sha, carried=carried, action="updated", on=on, how="appended")
    return replace(result, dropped=tuple(dropped))


def _unchanged(ctx: _Ctx, pr: PullRequest, marker: Marker) -> bool:
    """The fast no-op: the PR says the bot wrote exactly this state on this base, and nobody moved
    the branch since (its head is still the one the bot recorded)."""
    return (
        marker.state == "open"
        and (marker.checked or marker.base) == ctx.base_sha
        and marker.fingerprint == ctx.fp
        and pr.head_sha is not None
        and pr.head_sha == marker.head
    )


def _push(ctx: _Ctx, cache: ScanCache | None) -> SyncResult:
    desired = ctx.desired(cache)
    if not desired.contents:
        return SyncResult(
            "noop",
            None,
            ctx.base_sha,
            (),
            ctx.base_sha,
            unmatched=desired.unmatched,
            problems=desired.problems,
            below=desired.below,
        )
    sha = ctx.forge.commit_files(
        ctx.repo,
        ctx.first.base_branch,
        parent=ctx.base_sha,
        changes=_file_changes(desired.contents),
        message=commit_message(desired.written or ctx.intents, desired.rows, ctx.options),
        expected_head=ctx.base_sha,
    )
    return SyncResult(
        "pushed",
        None,
        sha,
        desired.changes,
        ctx.base_sha,
        unmatched=desired.unmatched,
        problems=desired.problems,
        landed=desired.landed,
        below=desired.below,
    )


def _close_applied(
    ctx: _Ctx, pr: PullRequest | None, marker: Marker | None, desired: Desired, *, force: bool
) -> SyncResult:
    """The base already holds every wanted version: close the PR and drop the bot's branch (a
    branch people committed to stays blocked instead, unless forced)."""
    if pr is None:
        return SyncResult("noop", None, None, (), ctx.base_sha, unmatched=desired.unmatched)
    head = ctx.head()
    foreign = _foreign(ctx, ctx.forge.commits_between(ctx.repo, ctx.base_sha, head)) if head else []
    if foreign and not force:
        return _block(ctx, pr, marker, foreign, head or "")
    if ctx.intents:
        text = already_applied_comment(ctx.first.base_branch, ctx.base_sha)
    else:
        text = nothing_wanted_comment()
    ctx.forge.close_pr(ctx.repo, pr.number, text)
    if head is not None and not foreign:
        ctx.forge.delete_branch(ctx.repo, ctx.branch)
    return SyncResult("closed", pr, None, (), ctx.base_sha, unmatched=desired.unmatched)


def _is_bot(commit: CommitInfo, bot: str) -> bool:
    return (commit.author_login or commit.author_name) == bot


def _foreign(ctx: _Ctx, commits: Sequence[CommitInfo]) -> list[CommitInfo]:
    bot = ctx.forge.info.bot_login
    if bot is None:
        raise ConfigError(f"forge {ctx.forge.info.name} does not know the bot's login")
    return [c for c in commits if not _is_bot(c, bot)]


def _sync_branch(
    ctx: _Ctx, pr: PullRequest | None, marker: Marker | None, desired: Desired, *, force: bool, recreate: bool
) -> SyncResult:
    head = ctx.head()
    if head is None or recreate:
        sha = _write(ctx, desired, {}, head)
        action: Action = "regenerated" if pr else "opened"
        return _publish(ctx, pr, desired, sha, carried=(), action=action, how="regenerated" if pr else None)
    commits = ctx.forge.commits_between(ctx.repo, ctx.base_sha, head)
    foreign = _foreign(ctx, commits)
    if foreign and not force:
        return _block(ctx, pr, marker, foreign, head)
    behind = not commits or commits[0].parents[:1] != (ctx.base_sha,)
    carried = set(marker.carried) if marker else set()
    if not foreign and not behind and _matches(ctx, head, desired, carried, marker):
        how = marker.update if marker is not None else None
        return _publish(
            ctx, pr, desired, head, carried=tuple(sorted(carried)), action="noop", wrote=False, how=how
        )
    old_parent = commits[0].parents[0] if commits and commits[0].parents else None
    kept, dropped = _carry(
        ctx, head, desired, carried, foreign=foreign, old_base=old_parent if behind else None
    )
    sha = _write(ctx, desired, kept, head, foreign)
    if (foreign or dropped) and pr is not None:
        ctx.forge.comment(ctx.repo, pr.number, carried_comment(sorted(kept), dropped))
    action = "regenerated" if behind or foreign or force else "updated"
    result = _publish(ctx, pr, desired, sha, carried=tuple(sorted(kept)), action=action, how="regenerated")
    return replace(result, dropped=tuple(dropped))


def _matches(ctx: _Ctx, head: str, desired: Desired, carried: set[str], marker: Marker | None) -> bool:
    """Does the up-to-date bot branch already hold exactly the desired files (plus carried ones)?"""
    if marker is not None:
        touched = set(marker.files) | set(marker.carried)
    elif isinstance(ctx.forge, ChangedFiles):
        touched = set(ctx.forge.changed_files(ctx.repo, ctx.base_sha, head))
    else:
        return False
    if touched != set(desired.contents) | carried:
        return False
    return all(ctx.forge.read_file(ctx.repo, p, head) == c for p, c in desired.contents.items())


def _carry(
    ctx: _Ctx,
    head: str,
    desired: Desired,
    carried: set[str],
    *,
    foreign: Sequence[CommitInfo],
    old_base: str | None,
) -> tuple[dict[str, bytes | None], list[str]]:
    """Which people's files survive a regeneration: those the bot does not edit and the base did
    not change meanwhile. Returns (kept path → content at head, dropped descriptions)."""
    candidates = set(carried)
    dropped: list[str] = []
    forge = ctx.forge
    changed_files = forge.changed_files if isinstance(forge, ChangedFiles) else None
    if foreign:
        if changed_files is None:
            dropped += [f"commit {c.sha[:12]}" for c in foreign]
        else:
            candidates |= set(changed_files(ctx.repo, foreign[0].parents[0], head))
    base_moved: set[str] | None = set()
    if old_base is not None and candidates:
        base_moved = set(changed_files(ctx.repo, old_base, ctx.base_sha)) if changed_files else None
    kept: dict[str, bytes | None] = {}
    for path in sorted(candidates):
        if path in desired.contents or base_moved is None or path in base_moved:
            dropped.append(path)
            continue
        try:
            kept[path] = ctx.forge.read_file(ctx.repo, path, head)
        except NotFound:
            kept[path] = None  # they deleted it
    return kept, dropped


def _write(
    ctx: _Ctx,
    desired: Desired,
    kept: dict[str, bytes | None],
    expected: str | None,
    foreign: Sequence[CommitInfo] = (),
) -> str:
    """A fresh commit on the current base (never a textual rebase), plus people's files on top."""
    sha = ctx.forge.commit_files(
        ctx.repo,
        ctx.branch,
        parent=ctx.base_sha,
        changes=_file_changes(desired.contents),
        message=commit_message(desired.written or ctx.intents, desired.rows, ctx.options),
        expected_head=expected,
    )
    if kept:
        who = ", ".join(sorted({c.author_name or c.author_login or "?" for c in foreign})) or "people"
        message = f"Keep changes by {who} on top of the regenerated branch\n"
        sha = ctx.forge.commit_files(
            ctx.repo,
            ctx.branch,
            parent=sha,
            changes=[FileChange(p, c) for p, c in sorted(kept.items())],
            message=message,
            expected_head=sha,
        )
    return sha


def _publish(
    ctx: _Ctx,
    pr: PullRequest | None,
    desired: Desired,
    head: str,
    *,
    carried: tuple[str, ...],
    action: Action,
    wrote: bool = True,
    on: str | None = None,
    how: str | None = None,
) -> SyncResult:
    """Open the PR or bring its title, body, labels, reviewers and assignees up to date (no API
    write when they already are). ``on``: the base the branch is built on, when older than the
    base head; ``how``: how the branch got its last write (the marker and body say so)."""
    files = tuple(sorted(desired.contents))
    digest = content_digest(desired.contents)
    old_values: dict[str, str] = {}
    for row in desired.rows:
        old_values.setdefault(row.image, row.old)
    marker = Marker(
        ctx.first.group_key,
        "open",
        on or ctx.base_sha,
        head,
        ctx.fp,
        files,
        carried,
        digest,
        versions_of(desired.written or ctx.intents, old_values),
        labels=ctx.options.labels,
        reviewers=ctx.options.reviewers,
        assignees=ctx.options.assignees,
        decisions=ctx.decisions,
        checked=ctx.base_sha if on not in (None, ctx.base_sha) else None,
        update=how,
    )
    written = desired.written or ctx.intents  # the versions the branch holds, each image once
    title = pr_title(written, desired.rows, ctx.options)
    # the body tells what this update left out, never an error of an earlier run
    shown = replace(ctx.state, last_error="\n".join(desired.problems) or None)
    collected = ctx.notes(written, desired.rows)
    body = pr_body(
        BodyInput(
            written,
            desired.rows,
            marker,
            shown,
            ctx.prefix,
            notes=collected.notes,
            template=ctx.options.body_template,
        )
    )
    changes = desired.changes if wrote else ()
    left_out = collected.left_out
    if pr is None:
        pr, adopted = _open_or_adopt(ctx, title, body)
        if not adopted:
            opened = desired.changes
            return SyncResult(
                "opened",
                pr,
                head,
                opened,
                ctx.base_sha,
                carried,
                (),
                desired.unmatched,
                notes_left_out=left_out,
            )
        action = "updated" if action in ("noop", "opened") else action
    extras = _extras(ctx.options, pr, parse_marker(pr.body))
    if extras != PrUpdate():  # first: the marker the body update writes says they are set
        pr = ctx.forge.update_pr(ctx.repo, pr.number, extras)
        action = "updated" if action == "noop" else action
    if pr.title != title or pr.body != body:
        pr = ctx.forge.update_pr(ctx.repo, pr.number, PrUpdate(title=title, body=body))
        action = "updated" if action == "noop" else action
    return SyncResult(
        action, pr, head, changes, ctx.base_sha, carried, (), desired.unmatched, notes_left_out=left_out
    )


def _extras(options: PrOptions, pr: PullRequest, previous: Marker | None) -> PrUpdate:
    """What the config's labels, reviewers and assignees change on an open PR. Labels: the ones
    the bot set before (the marker says which) follow the config, a person's stay. Reviewers and
    assignees are sent again only when the config's list changed since the bot last set it (on
    GitHub that requests the new reviewers; GitLab and the local forge take the list as it is)."""
    managed = previous.labels if previous is not None and previous.labels is not None else ()
    people = [label for label in pr.labels if label not in managed]
    labels = tuple(dict.fromkeys([*people, *options.labels]))

    def changed(before: tuple[str, ...] | None, now: tuple[str, ...]) -> tuple[str, ...] | None:
        return now if before is not None and set(before) != set(now) else None

    return PrUpdate(
        labels=labels if set(labels) != set(pr.labels) else None,
        reviewers=changed(previous.reviewers if previous else None, options.reviewers),
        assignees=changed(previous.assignees if previous else None, options.assignees),
    )


def _open_or_adopt(ctx: _Ctx, title: str, body: str) -> tuple[PullRequest, bool]:
    """Open the group's PR; when the forge already has an open one from the branch (GitHub 422 "A
    pull request already exists", GitLab 409: e.g. a person rewrote its description, marker and
    all) adopt it, and the caller brings its title and body up to date. (PR, adopted)."""
    opts = ctx.options
    try:
        pr = ctx.forge.open_pr(
            ctx.repo,
            ctx.branch,
            ctx.first.base_branch,
            title,
            body,
            labels=opts.labels,
            reviewers=opts.reviewers,
            assignees=opts.assignees,
            draft=opts.draft,
        )
    except Conflict:
        existing = ctx.forge.find_pr(ctx.repo, ctx.branch)
        if existing is None:
            raise
        return existing, True
    return pr, False


def _block(
    ctx: _Ctx, pr: PullRequest | None, marker: Marker | None, foreign: Sequence[CommitInfo], head: str
) -> SyncResult:
    """Leave a branch people committed to alone; say so once (the marker remembers)."""
    if pr is not None and (marker is None or marker.state != "blocked"):
        authors = [c.author_login or c.author_name or "?" for c in foreign]
        ctx.forge.comment(ctx.repo, pr.number, blocked_comment(authors, [c.sha for c in foreign], ctx.prefix))
        new = replace(
            marker or Marker(ctx.first.group_key), state="blocked", decisions=ctx.decisions, refused=None
        )
        pr = ctx.forge.update_pr(ctx.repo, pr.number, PrUpdate(body=replace_marker(pr.body, new)))
    else:
        pr = _keep_decisions(ctx, pr)
    return SyncResult("blocked", pr, head, (), ctx.base_sha)


def _file_changes(contents: dict[str, bytes]) -> list[FileChange]:
    return [FileChange(path, data) for path, data in sorted(contents.items())]

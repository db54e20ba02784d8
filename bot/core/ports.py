"""The one small Protocol every forge implements (GitHub, GitLab, local git).

Adapters translate library exceptions into ``bot.errors`` (NotFound, Conflict, RateLimited,
Transient, PermissionDenied, AuthError, ValidationFailed) and nothing else escapes them.
``repo`` is always the forge's own name for the repository (``owner/name``, GitLab
``path_with_namespace``, or the local repo's name).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

MergeMethod = Literal["merge", "squash", "rebase"]


class Permission(enum.IntEnum):
    """One ladder for both forges. GitLab: Guest=READ, Reporter=TRIAGE, Developer=WRITE,
    Maintainer=MAINTAIN, Owner=ADMIN. GitHub: read, triage, write, maintain, admin."""

    NONE = 0
    READ = 1
    TRIAGE = 2
    WRITE = 3
    MAINTAIN = 4
    ADMIN = 5


class Reaction(enum.Enum):
    """What we react with; adapters map to ``eyes``/``rocket``/``confused`` (GitLab award emoji)."""

    SEEN = "eyes"
    DONE = "rocket"
    FAILED = "confused"


@dataclass(frozen=True, slots=True)
class CommitInfo:
    sha: str
    parents: tuple[str, ...]
    author_name: str | None = None
    author_email: str | None = None
    author_login: str | None = None  # forge account, when the forge knows it
    committer_login: str | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class PullRequest:
    number: int  # GitHub number, GitLab iid, local sequence
    head_branch: str
    base_branch: str
    title: str
    body: str
    state: Literal["open", "closed", "merged"]
    head_sha: str | None = None
    url: str | None = None
    draft: bool = False
    labels: tuple[str, ...] = ()
    author: str | None = None
    mergeable: bool | None = None  # None = unknown / still being computed


@dataclass(frozen=True, slots=True)
class PrUpdate:
    """Fields to change on a PR; None leaves a field as it is."""

    title: str | None = None
    body: str | None = None
    labels: Sequence[str] | None = None
    reviewers: Sequence[str] | None = None
    assignees: Sequence[str] | None = None
    draft: bool | None = None


@dataclass(frozen=True, slots=True)
class FileChange:
    """New content for one file (``None`` deletes it)."""

    path: str
    content: bytes | None


@dataclass(frozen=True, slots=True)
class ForgeInfo:
    name: str  # the config's name for this forge
    kind: Literal["github", "gitlab", "local"]
    bot_login: str | None = None  # whose commits/comments are "ours"
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Blob:
    """One file of a tree listing: git's object id of its content, and its size when known."""

    sha: str  # 40 hex (SHA-1 repositories) or 64 hex (SHA-256); the same bytes give the same id
    size: int | None = None  # bytes; None when the forge's listing does not say (GitLab)


# --- optional extras ---------------------------------------------------------------------------
# Not part of ``Forge`` (a plain forge need not do more than it): each is a Protocol of its own,
# and callers ask ``isinstance(forge, Extra)``, falling back to ``Forge`` when a forge lacks it.
# Which adapter offers which: docs/forges.md ("Optional extras").


@runtime_checkable
class BatchReader(Protocol):
    """Optional extra: many files at one ref in one forge call (not required by ``Forge``)."""

    def read_files(self, repo: str, paths: Sequence[str], ref: str) -> dict[str, bytes | None]:
        """Raw bytes of each of ``paths`` at ``ref``; None when the path does not exist (or is not a
        file) at ``ref``. Every requested path is a key; duplicates are read once."""
        ...


@runtime_checkable
class BlobLister(Protocol):
    """Optional extra: the tree listing with each file's blob sha (what ``list_tree`` lists, and
    the one request it costs), so a file's content is known unchanged without reading it."""

    def list_blobs(self, repo: str, ref: str) -> dict[str, Blob]:
        """path → blob of every file (blobs only, recursive) at ``ref``."""
        ...


@runtime_checkable
class ChangedFiles(Protocol):
    """Optional extra (GitHub, local): which paths differ between two commits, in one call."""

    def changed_files(self, repo: str, base: str, head: str) -> list[str]:
        """Paths whose content differs between commits ``base`` and ``head``."""
        ...


@dataclass(frozen=True, slots=True)
class Observation:
    """What a sync reads before it decides, in one request (``Observer.observe``)."""

    base_sha: str | None  # the base branch's head (None: no such branch)
    pr: PullRequest | None  # the bot's open PR from the head branch (carrying the marker)
    head_sha: str | None  # the head branch's tip (None: no such branch)
    last_pr: PullRequest | None  # the newest PR from the head branch in any state (carrying the marker)


@runtime_checkable
class Observer(Protocol):
    """Optional extra (GitHub, local): ``branch_head`` of both branches, ``find_pr`` and
    ``last_pr`` in one request."""

    def observe(
        self, repo: str, base_branch: str, head_branch: str, marker: str | None = None
    ) -> Observation:
        """The base and head branches' tips, the bot's open PR from ``head_branch`` and the newest
        of its PRs in any state (``marker``: only PRs whose body holds it)."""
        ...


@runtime_checkable
class TeamDirectory(Protocol):
    """Optional extra (GitHub, GitLab, local): team membership for chat-ops rules that name teams.

    GitHub: ``org/slug`` or a bare slug of the repo owner's org (needs the App's "Members: read"
    org permission; a pending invitation is not membership); GitLab: a group path (inherited
    membership counts); local: the forge's ``teams`` map. Without it, team rules never match."""

    def team_member(self, repo: str, team: str, user: str) -> bool:
        """Is ``user`` an active member of ``team``? An unknown team is False, not an error."""
        ...


@runtime_checkable
class CommitStatuses(Protocol):
    """Optional extra (GitHub ``statuses``; local: a git note): deployment reports mark each told
    PR's merge commit."""

    def set_status(self, repo: str, sha: str, state: str, context: str, description: str) -> None:
        """A commit status on ``sha``; ``state`` one of ``success``/``failure``/``pending``,
        replacing the one with the same ``context``."""
        ...


@dataclass(frozen=True, slots=True)
class Release:
    """A release of an application repository, as its forge publishes it (text unsanitised)."""

    tag: str
    name: str
    body: str
    url: str


@runtime_checkable
class Releases(Protocol):
    """Optional extra (GitHub, GitLab): the release notes of a repository this forge serves, for
    the PR body's release notes (``bot.services.release_notes``). ``web_url`` is the forge's web
    root (``https://github.com``, a GitHub Enterprise or GitLab host): an image's source label
    naming another origin is never sent to this forge, nor its credentials there."""

    web_url: str

    def release(self, repo: str, tags: Sequence[str]) -> Release | None:
        """The release of the first of ``tags`` that has one (one request per tag tried, in order);
        None when none has (or the repository does not exist)."""
        ...


@runtime_checkable
class InstallationAware(Protocol):
    """Optional extra (GitHub Apps): drop clients and tokens an ``installation`` event made stale."""

    def forget_installation(self, installation_id: int, repos: Sequence[str] = ()) -> None: ...


@runtime_checkable
class Forge(Protocol):
    info: ForgeInfo

    # --- reading -------------------------------------------------------------------------------
    def read_file(self, repo: str, path: str, ref: str) -> bytes:
        """Raw bytes of ``path`` at ``ref`` (branch, tag or sha). NotFound when absent."""
        ...

    def list_tree(self, repo: str, ref: str) -> list[str]:
        """Every file path (blobs only, recursive) at ``ref``."""
        ...

    def branch_head(self, repo: str, branch: str) -> str | None:
        """Sha the branch points at, or None when it does not exist."""
        ...

    def commits_between(self, repo: str, base: str, head: str) -> list[CommitInfo]:
        """Commits reachable from ``head`` and not from ``base``, oldest first."""
        ...

    # --- writing -------------------------------------------------------------------------------
    def commit_files(
        self,
        repo: str,
        branch: str,
        *,
        parent: str,
        changes: Sequence[FileChange],
        message: str,
        expected_head: str | None,
    ) -> str:
        """Create one commit on top of ``parent`` with ``changes`` and point ``branch`` at it.

        Compare-and-swap: ``expected_head`` is the sha the branch must point at now (None = the
        branch must not exist yet). Raises Conflict when it does not; returns the new commit sha.
        The commit is made without a custom author (GitHub shows it Verified for the App).
        """
        ...

    def set_branch(self, repo: str, branch: str, sha: str, *, expected_head: str | None) -> None:
        """Point ``branch`` at ``sha`` (create when absent), compare-and-swap like commit_files."""
        ...

    def delete_branch(self, repo: str, branch: str) -> None:
        """Delete; a missing branch is not an error."""
        ...

    # --- pull requests -------------------------------------------------------------------------
    def find_pr(self, repo: str, head_branch: str, marker: str | None = None) -> PullRequest | None:
        """The bot's *open* PR from ``head_branch`` (and whose body contains ``marker`` when given)."""
        ...

    def last_pr(self, repo: str, head_branch: str, marker: str | None = None) -> PullRequest | None:
        """The newest PR from ``head_branch`` in any state (open, closed, merged) whose body
        contains ``marker`` when given; one request (the newest page). Rebuilding a group Redis
        lost reads the decisions its last PR kept."""
        ...

    def get_pr(self, repo: str, number: int) -> PullRequest: ...

    def open_pr(
        self,
        repo: str,
        head_branch: str,
        base_branch: str,
        title: str,
        body: str,
        *,
        labels: Sequence[str] = (),
        reviewers: Sequence[str] = (),
        assignees: Sequence[str] = (),
        draft: bool = False,
    ) -> PullRequest: ...

    def update_pr(self, repo: str, number: int, update: PrUpdate) -> PullRequest: ...

    def close_pr(self, repo: str, number: int, comment: str | None = None) -> None: ...

    def reopen_pr(self, repo: str, number: int) -> None: ...

    def merge_pr(self, repo: str, number: int, method: MergeMethod, expected_head: str | None) -> bool:
        """Merge now; True when merged. Conflict when the head moved or it is not mergeable."""
        ...

    def enable_auto_merge(self, repo: str, number: int, method: MergeMethod) -> bool:
        """Ask the forge to merge when checks pass; False when the repo does not allow it, or
        (GitLab) when no pipeline exists yet for the head — the caller retries later."""
        ...

    def disable_auto_merge(self, repo: str, number: int) -> None: ...

    # --- conversation --------------------------------------------------------------------------
    def comment(self, repo: str, number: int, body: str) -> str:
        """Post a comment on the PR; returns the comment id."""
        ...

    def react(self, repo: str, number: int, comment_id: int | str, reaction: Reaction) -> None: ...

    def permission(self, repo: str, user: str) -> Permission:
        """The user's effective permission on the repo, read from the forge now."""
        ...


# --- registries ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ResolvedImage:
    """What a registry says ``image:tag`` points at now."""

    image: str  # canonical name (``docker.io/library/nginx``)
    tag: str
    digest: str  # ``sha256:<64 hex>``: the manifest (or index) the tag points at ("": a Helm index gave none)
    media_type: str | None = None  # OCI index/manifest, Docker manifest list/v2 manifest


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """What an image's config says about where it comes from (``org.opencontainers.image.*``
    labels; a Helm chart's ``sources``/``version``): the PR body's release notes read it."""

    image: str
    reference: str  # the tag (or digest) asked for
    labels: Mapping[str, str] = field(default_factory=dict)
    #: the platform whose config was read, for an index (``linux/amd64``); None for a manifest
    platform: str | None = None

    @property
    def source(self) -> str | None:
        return self.labels.get("org.opencontainers.image.source") or None

    @property
    def revision(self) -> str | None:
        return self.labels.get("org.opencontainers.image.revision") or None

    @property
    def version(self) -> str | None:
        return self.labels.get("org.opencontainers.image.version") or None


@runtime_checkable
class ConfigReader(Protocol):
    """Optional extra of a ``Registry`` (``bot.registry`` has it): an image's config labels."""

    def image_config(self, image: str, reference: str) -> ImageConfig | None:
        """The labels of ``image:reference``'s config (for an index, of one platform's image);
        None when the tag does not exist. A redirect of the config blob is followed only to
        object storage over https, without credentials, and its bytes must hash to its digest."""
        ...


@runtime_checkable
class Registry(Protocol):
    """An OCI Distribution registry client (``bot.registry`` implements it).

    ``image`` is any spelling of a repository (``nginx``, ``ghcr.io/acme/api``); tags and digests in
    it are not allowed. Errors: ``RateLimited`` (429, with ``retry_after``), ``Transient`` (5xx,
    timeouts), ``AuthError``/``PermissionDenied`` (401/403: permanent, naming the registry and where
    the credentials came from, never the secret), ``InvalidReference``. Nothing sleeps inside a call.
    """

    def resolve(self, image: str, tag: str, *, fresh: bool = False) -> ResolvedImage | None:
        """The digest ``image:tag`` points at; None when the tag or the repository does not exist.
        A found digest is cached per (image, tag) for a short TTL; ``fresh`` skips the cache (use it
        to follow mutable tags)."""
        ...

    def exists(self, image: str, tag: str) -> bool:
        """Whether ``image:tag`` exists now (never answered from the cache when absent)."""
        ...

    def list_tags(self, image: str) -> tuple[str, ...]:
        """Every tag of the repository, in the registry's order (``?n=`` pages, ``Link`` followed);
        NotFound when the repository does not exist."""
        ...

    def released(self, image: str, digest: str) -> float | None:
        """When the image at ``digest`` was built (epoch seconds), as its manifest's
        ``org.opencontainers.image.created`` annotation or its config's ``created`` says (an
        index: its linux/amd64 image, else its first); None when neither is usable or the digest
        is gone. Cached per digest (a digest never changes)."""
        ...

    def platforms(self, image: str, digest: str) -> tuple[str, ...] | None:
        """The platforms (``os/arch[/variant]``) the image at ``digest`` is built for: an index's
        entries (one manifest request), or a single image's config; None when the digest is gone.
        Cached per digest."""
        ...

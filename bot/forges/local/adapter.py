"""A forge made of git repositories on disk (``bot.core.ports.Forge``).

``repo`` names a directory under ``root`` (``root/<repo>`` or ``root/<repo>.git``, bare or not).
Branches are real branches, written through plumbing with compare-and-swap (see
``bot.forges.local.git``); pull requests, comments and reactions live in ``<repo dir>.prs.json``
beside the repository. Permissions come from a map (default WRITE for everyone) that the JSON
file's ``permissions`` object can override per user; team membership comes from a ``teams`` map.

With ``push_remote`` set, every branch write is first pushed to that remote with
``git push --force-with-lease`` (the lease is the caller's expected head) and only then applied
locally: plain branch write-back to any git remote, Flux/Argo CD Image Updater style. A rejected
push refreshes the local branches from the remote and raises ``Conflict`` so the caller observes
again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bot import logs
from bot.core.ports import (
    Blob,
    CommitInfo,
    FileChange,
    ForgeInfo,
    MergeMethod,
    Observation,
    Permission,
    PrUpdate,
    PullRequest,
    Reaction,
)
from bot.errors import Conflict, ForgeError, NotFound, SettingsError, ValidationFailed
from bot.forges.local.git import GIT_TIMEOUT_S, GitRepo
from bot.forges.local.listings import Listing, Listings
from bot.forges.local.prs import PrStore, Record, now_iso
from bot.forges.local.signing import Signing, load_signing
from bot.settings import Settings

DEFAULT_BOT_EMAIL = "manifest-bot@localhost"
#: the git notes ref commit statuses are kept under
STATUS_NOTES = "manifest-bot-status"
#: how many bytes one ``read_files`` call may read in all (it keeps them all in memory)
DEFAULT_MAX_READ_BYTES = 64 * 1024 * 1024


class LocalGitForge:
    def __init__(
        self,
        root: Path | str,
        *,
        name: str = "local",
        bot_login: str = "manifest-bot[bot]",
        bot_email: str = DEFAULT_BOT_EMAIL,
        permissions: Mapping[str, Permission] | None = None,
        default_permission: Permission = Permission.WRITE,
        push_remote: str | None = None,
        teams: Mapping[str, Sequence[str]] | None = None,
        git_timeout_s: float = GIT_TIMEOUT_S,
        max_read_bytes: int = DEFAULT_MAX_READ_BYTES,
        signing: Signing | None = None,
    ) -> None:
        self.root = Path(root)
        self.signing = signing
        self.git_timeout_s = git_timeout_s
        self.max_read_bytes = max_read_bytes
        self.listings = Listings()
        self._repos: dict[Path, GitRepo] = {}  # one per repository on disk (few: those configured)
        # messages name repositories, never the server's directories or the remote's credentials
        logs.add_paths([str(self.root), str(self.root.resolve())])
        logs.add_secrets(logs.url_credentials(push_remote or ""))
        #: team name (lower case) -> members, for chat-ops rules that list teams
        self.teams = {t.lower(): frozenset(u.lower() for u in users) for t, users in (teams or {}).items()}
        self.info = ForgeInfo(name=name, kind="local", bot_login=bot_login)
        self.bot_email = bot_email
        self.permissions = dict(permissions or {})
        self.default_permission = default_permission
        self.push_remote = push_remote

    # --- repositories ------------------------------------------------------------------------
    def repo_path(self, repo: str) -> Path:
        parts = repo.split("/")
        if not repo or any(p in ("", ".", "..") for p in parts):
            raise ValidationFailed(f"invalid local repository name {repo!r}")
        for candidate in (self.root / repo, self.root / f"{repo}.git"):
            if candidate.is_dir():
                return candidate
        raise NotFound(f"no local repository {repo!r}")

    def git(self, repo: str) -> GitRepo:
        """The repository on disk (one object per path, so what it learns once, whether it is
        bare, is not asked of git again)."""
        path = self.repo_path(repo)
        if path not in self._repos:
            identity = (self.info.bot_login or "manifest-bot", self.bot_email)
            self._repos[path] = GitRepo(path, identity, timeout_s=self.git_timeout_s, signing=self.signing)
        return self._repos[path]

    def _prs(self, repo: str) -> PrStore:
        path = self.repo_path(repo)
        return PrStore(path.with_name(path.name + ".prs.json"))

    # --- reading -----------------------------------------------------------------------------
    def read_file(self, repo: str, path: str, ref: str) -> bytes:
        return self.git(repo).read_blob(ref, path)

    def read_files(self, repo: str, paths: Sequence[str], ref: str) -> dict[str, bytes | None]:
        """Many files at ``ref`` (optional extension of the Protocol); None for a path that does
        not exist (or is not a file) at ``ref``. Their blob shas come from the commit's tree
        listing (kept per commit: discovery has just read it), then one ``git cat-file --batch``
        reads ``<sha>`` lines. ValidationFailed, before anything is read, when the files hold
        more than ``max_read_bytes`` in all."""
        git = self.git(repo)
        commit = git.require(ref)
        wanted = list(dict.fromkeys(paths))
        if not wanted:
            return {}
        listing = self._listing(git, repo, commit)
        found = {path: listing[path] for path in wanted if path in listing}
        total = sum(blob.size or 0 for blob in found.values())
        if total > self.max_read_bytes:
            raise ValidationFailed(
                f"{repo}: reading {len(found)} files at {ref} would read {total} bytes, over the "
                f"local forge's limit of {self.max_read_bytes} bytes per read"
            )
        blobs = git.read_objects([blob.sha for blob in found.values()])
        return {path: blobs[found[path].sha] if path in found else None for path in wanted}

    def list_blobs(self, repo: str, ref: str) -> dict[str, Blob]:
        """Every file at ``ref`` with its blob sha and size (optional extra, ``BlobLister``)."""
        git = self.git(repo)
        return dict(self._listing(git, repo, git.require(ref)))

    def list_tree(self, repo: str, ref: str) -> list[str]:
        git = self.git(repo)
        return sorted(self._listing(git, repo, git.require(ref)))

    def _listing(self, git: GitRepo, repo: str, commit: str) -> Listing:
        return self.listings.get(repo, commit, lambda: git.blob_listing(commit))

    def branch_head(self, repo: str, branch: str) -> str | None:
        return self.git(repo).branch_head(branch)

    def commits_between(self, repo: str, base: str, head: str) -> list[CommitInfo]:
        out = []
        for sha, parents, an, ae, cn, _ce, message in self.git(repo).log(base, head):
            out.append(
                CommitInfo(
                    sha=sha,
                    parents=tuple(parents.split()),
                    author_name=an,
                    author_email=ae,
                    author_login=an,  # git has no accounts: the author name stands for the login
                    committer_login=cn,
                    message=message,
                )
            )
        return out

    def changed_files(self, repo: str, base: str, head: str) -> list[str]:
        """Paths whose content differs between two commits (optional extension of the Protocol)."""
        return self.git(repo).changed_paths(base, head)

    def diff(self, repo: str, base: str, head: str) -> str:
        """The unified diff of ``head`` against its merge base with ``base`` (``manifest-bot local
        show``; not part of the Protocol)."""
        git = self.git(repo)
        return git.out("diff", "--no-color", "--no-ext-diff", f"{git.require(base)}...{git.require(head)}")

    # --- writing -----------------------------------------------------------------------------
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
        git = self.git(repo)
        sha = git.make_commit(parent, {c.path: c.content for c in changes}, message)
        self._move(git, branch, sha, expected_head)
        return sha

    def set_branch(self, repo: str, branch: str, sha: str, *, expected_head: str | None) -> None:
        git = self.git(repo)
        self._move(git, branch, git.require(sha), expected_head)

    def delete_branch(self, repo: str, branch: str) -> None:
        git = self.git(repo)
        head = git.branch_head(branch)
        if head is not None:
            self._move(git, branch, None, head)

    def _move(self, git: GitRepo, branch: str, new: str | None, expected: str | None) -> None:
        """Move ``branch`` from ``expected`` to ``new`` (None deletes). A branch checked out in
        the repository's work tree is moved as ``git push`` with ``receive.denyCurrentBranch=
        updateInstead`` would: only when the work tree and index are clean, and they follow it."""
        checked_out = git.checked_out(branch)
        if checked_out:
            self._check_checkout(git, branch, new)
        if self.push_remote:
            try:
                git.push_with_lease(self.push_remote, branch, new, expected)
            except Conflict:
                self._refresh(git)
                raise
        git.cas_ref(branch, new, expected)
        if checked_out and new is not None:
            try:
                git.update_work_tree(expected, new)
            except ForgeError as exc:
                git.cas_ref(branch, expected, new)
                raise ValidationFailed(
                    f"{git.path.name}: branch {branch} is checked out and its work tree cannot follow "
                    f"({exc}); the branch was left as it was"
                ) from None

    @staticmethod
    def _check_checkout(git: GitRepo, branch: str, new: str | None) -> None:
        if new is None:
            raise ValidationFailed(f"{git.path.name}: branch {branch} is checked out; it is not deleted")
        if git.dirty():
            raise ValidationFailed(
                f"{git.path.name}: branch {branch} is checked out with uncommitted changes; commit or "
                "stash them (the bot moves a checked-out branch only over a clean work tree, and "
                "updates the work tree with it)"
            )

    def refresh(self, repo: str) -> None:
        """Mirror the remote's branches into the local repository (write-back mode only)."""
        self._refresh(self.git(repo))

    def _refresh(self, git: GitRepo) -> None:
        if self.push_remote:
            git.run("fetch", "--prune", "--update-head-ok", self.push_remote, "+refs/heads/*:refs/heads/*")

    # --- pull requests -----------------------------------------------------------------------
    def _name(self, git: GitRepo) -> str:
        """The repository's full name under the forge's root (``boutique/deploy``, not ``deploy``)."""
        return git.path.relative_to(self.root).as_posix().removesuffix(".git")

    def _to_pr(
        self, git: GitRepo, record: Record, heads: Mapping[str, str | None] | None = None
    ) -> PullRequest:
        """``heads``: branch tips the caller has just read (not read again)."""
        head_sha = record.get("head_sha")
        mergeable = None
        if record["state"] == "open":
            known = heads or {}

            def tip(branch: str) -> str | None:
                return known[branch] if branch in known else git.branch_head(branch)

            head_sha, base_sha = tip(record["head_branch"]), tip(record["base_branch"])
            if head_sha and base_sha:
                mergeable = git.merge_tree(base_sha, head_sha) is not None
        return PullRequest(
            number=record["number"],
            head_branch=record["head_branch"],
            base_branch=record["base_branch"],
            title=record["title"],
            body=record["body"],
            state=record["state"],
            head_sha=head_sha,
            url=f"local://{self._name(git)}/pulls/{record['number']}",
            draft=record.get("draft", False),
            labels=tuple(record.get("labels", ())),
            author=record.get("author"),
            mergeable=mergeable,
        )

    def find_pr(self, repo: str, head_branch: str, marker: str | None = None) -> PullRequest | None:
        git = self.git(repo)
        for record in reversed(self._prs(repo).all()):
            if record["state"] != "open" or record["head_branch"] != head_branch:
                continue
            if marker is None or marker in record["body"]:
                return self._to_pr(git, record)
        return None

    def last_pr(self, repo: str, head_branch: str, marker: str | None = None) -> PullRequest | None:
        git = self.git(repo)
        for record in reversed(self._prs(repo).all()):
            if record["head_branch"] == head_branch and (marker is None or marker in record["body"]):
                return self._to_pr(git, record)
        return None

    def observe(
        self, repo: str, base_branch: str, head_branch: str, marker: str | None = None
    ) -> Observation:
        """Both branches' tips, the bot's open PR and the newest of its PRs as one call (the
        optional extra GitHub answers in one request), so a sync costs the same number of forge
        calls here as there."""
        git = self.git(repo)
        heads = git.branch_heads([base_branch, head_branch])
        pr = last = None
        for record in reversed(self._prs(repo).all()):
            if record["head_branch"] != head_branch or (marker is not None and marker not in record["body"]):
                continue
            if last is None:
                last = self._to_pr(git, record, heads)
            if record["state"] == "open":
                pr = last if last.number == record["number"] else self._to_pr(git, record, heads)
                break
        return Observation(heads[base_branch], pr, heads[head_branch], last)

    def get_pr(self, repo: str, number: int) -> PullRequest:
        return self._to_pr(self.git(repo), self._prs(repo).get(number))

    def list_prs(self, repo: str) -> list[PullRequest]:
        git = self.git(repo)
        return [self._to_pr(git, r) for r in self._prs(repo).all()]

    def pr_record(self, repo: str, number: int) -> Record:
        """The raw stored record (comments, reactions, timestamps): for tests, demo and status."""
        return self._prs(repo).get(number)

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
        author: str | None = None,
    ) -> PullRequest:
        """Open a PR as the bot (unless ``author`` is given: tests and the demo act as people)."""
        git = self.git(repo)
        heads = git.branch_heads([head_branch, base_branch])
        for branch, sha in heads.items():
            if sha is None:
                raise ValidationFailed(f"cannot open a pull request: branch {branch} does not exist")
        if self.find_pr(repo, head_branch) is not None:  # as GitHub (422) and GitLab (409) refuse it
            raise Conflict(f"a pull request from {head_branch} is already open")
        record = self._prs(repo).create(
            {
                "head_branch": head_branch,
                "base_branch": base_branch,
                "title": title,
                "body": body,
                "state": "open",
                "draft": draft,
                "labels": list(labels),
                "reviewers": list(reviewers),
                "assignees": list(assignees),
                "author": author or self.info.bot_login,
                "auto_merge": None,
            }
        )
        return self._to_pr(git, record, heads)

    def update_pr(self, repo: str, number: int, update: PrUpdate) -> PullRequest:
        def change(record: Record, _data: dict[str, Any]) -> None:
            for key in ("title", "body", "draft"):
                value = getattr(update, key)
                if value is not None:
                    record[key] = value
            for key in ("labels", "reviewers", "assignees"):
                value = getattr(update, key)
                if value is not None:
                    record[key] = list(value)

        return self._to_pr(self.git(repo), self._prs(repo).update(number, change))

    def close_pr(self, repo: str, number: int, comment: str | None = None) -> None:
        if comment:
            self.comment(repo, number, comment)
        head = self.git(repo).branch_head(self._prs(repo).get(number)["head_branch"])

        def change(record: Record, _data: dict[str, Any]) -> None:
            if record["state"] == "open":
                record.update(state="closed", head_sha=head, closed_at=now_iso())

        self._prs(repo).update(number, change)

    def reopen_pr(self, repo: str, number: int) -> None:
        record = self._prs(repo).get(number)
        if record["state"] == "merged":
            raise ValidationFailed(f"pull request #{number} is merged and cannot be reopened")
        if self.git(repo).branch_head(record["head_branch"]) is None:
            raise ValidationFailed(f"cannot reopen #{number}: branch {record['head_branch']} is gone")
        self._prs(repo).update(number, lambda r, _d: r.update(state="open"))

    def merge_pr(self, repo: str, number: int, method: MergeMethod, expected_head: str | None) -> bool:
        git = self.git(repo)
        record = self._prs(repo).get(number)
        if record["state"] != "open":
            raise ValidationFailed(f"pull request #{number} is {record['state']}")
        head = git.require(f"refs/heads/{record['head_branch']}")
        if expected_head is not None and head != expected_head:
            raise Conflict(f"pull request #{number} head moved to {head}")
        base = git.require(f"refs/heads/{record['base_branch']}")
        if method == "rebase" and git.is_ancestor(base, head):
            merged = head
        else:
            tree = git.merge_tree(base, head)
            if tree is None:
                raise Conflict(f"pull request #{number} does not merge cleanly into {record['base_branch']}")
            title = f"{record['title']} (#{number})"
            parents = [base, head] if method == "merge" else [base]
            merged = git.commit_tree(tree, parents, title + "\n")
        self._move(git, record["base_branch"], merged, base)
        self._prs(repo).update(
            number,
            lambda r, _d: r.update(state="merged", head_sha=head, merge_sha=merged, merged_at=now_iso()),
        )
        return True

    def enable_auto_merge(self, repo: str, number: int, method: MergeMethod) -> bool:
        """A local repository runs no checks, so "when checks pass" is now."""
        self._prs(repo).update(number, lambda r, _d: r.update(auto_merge=method))
        if self.get_pr(repo, number).mergeable:
            return self.merge_pr(repo, number, method, None)
        return True

    def disable_auto_merge(self, repo: str, number: int) -> None:
        self._prs(repo).update(number, lambda r, _d: r.update(auto_merge=None))

    # --- conversation ------------------------------------------------------------------------
    def comment(self, repo: str, number: int, body: str, *, author: str | None = None) -> str:
        """Post a comment (as the bot unless ``author`` is given: tests and the demo act as people)."""
        created: dict[str, str] = {}

        def change(record: Record, data: dict[str, Any]) -> None:
            cid = str(data.get("next_comment", 1))
            data["next_comment"] = int(cid) + 1
            record["comments"].append(
                {
                    "id": cid,
                    "author": author or self.info.bot_login,
                    "body": body,
                    "created_at": now_iso(),
                    "reactions": [],
                }
            )
            created["id"] = cid

        self._prs(repo).update(number, change)
        return created["id"]

    def set_status(self, repo: str, sha: str, state: str, context: str, description: str) -> None:
        """A commit status (optional Forge extra), kept as a git note on the commit
        (``refs/notes/manifest-bot-status``: JSON, context → state and description)."""
        git = self.git(repo)
        raw = git.note(STATUS_NOTES, sha)
        found = json.loads(raw) if raw else {}
        found[context] = {"state": state, "description": description[:140]}
        git.set_note(STATUS_NOTES, sha, json.dumps(found, sort_keys=True).encode())

    def statuses(self, repo: str, sha: str) -> dict[str, dict[str, str]]:
        """The commit statuses of ``sha`` by context (not part of the Protocol: tests, status)."""
        raw = self.git(repo).note(STATUS_NOTES, sha)
        return json.loads(raw) if raw else {}

    def react(self, repo: str, number: int, comment_id: int | str, reaction: Reaction) -> None:
        def change(record: Record, _data: dict[str, Any]) -> None:
            for item in record["comments"]:
                if item["id"] == str(comment_id):
                    entry = {"user": self.info.bot_login, "content": reaction.value}
                    if entry not in item["reactions"]:
                        item["reactions"].append(entry)
                    return
            raise NotFound(f"no comment {comment_id} on pull request #{number}")

        self._prs(repo).update(number, change)

    def permission(self, repo: str, user: str) -> Permission:
        stored = self._prs(repo).read().get("permissions", {})
        if user in stored:
            return Permission[str(stored[user]).upper()]
        return self.permissions.get(user, self.default_permission)

    def team_member(self, repo: str, team: str, user: str) -> bool:
        """Optional extra: membership from the ``teams`` map (same teams for every repo)."""
        return user.lower() in self.teams.get(team.lower(), frozenset())


def build_local(name: str, settings: Settings, **options: Any) -> LocalGitForge:
    """Factory builder: ``root`` (directory holding the repositories) is required; optional
    ``push_remote``, ``bot_email``, ``permissions`` ({user: "write"…}), ``default_permission``,
    ``teams`` ({team: [user, …]}, for chat-ops rules that list teams), ``git_timeout_s`` (how long
    one git command, a push to ``push_remote`` above all, may take), ``signing_key_file`` (a key every
    commit is signed with, ``signing_format`` ``ssh`` or ``openpgp``; checked here by signing one,
    so a key that cannot sign fails the build: the worker's start-up)."""
    root = options.pop("root", None)
    if not root:
        raise SettingsError(f"local forge {name!r} needs a 'root' directory holding its repositories")
    key_file = options.pop("signing_key_file", None)
    key_format = options.pop("signing_format", "ssh")
    signing = load_signing(name, key_file, key_format) if key_file else None
    perms = {user: Permission[str(level).upper()] for user, level in options.pop("permissions", {}).items()}
    default = Permission[str(options.pop("default_permission", "write")).upper()]
    return LocalGitForge(
        root,
        name=name,
        bot_login=options.pop("bot_login", None) or settings.bot_login,
        bot_email=options.pop("bot_email", DEFAULT_BOT_EMAIL),
        permissions=perms,
        default_permission=default,
        push_remote=options.pop("push_remote", None),
        teams=options.pop("teams", None),
        git_timeout_s=float(options.pop("git_timeout_s", GIT_TIMEOUT_S)),
        signing=signing,
    )

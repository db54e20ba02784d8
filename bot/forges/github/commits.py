"""Branch writes on GitHub: Verified commits (``createCommitOnBranch``) and atomic ref moves
(``updateRefs``), with every race decided from the branch as it is afterwards.

- append (the branch is at the parent): ``createCommitOnBranch`` with ``expectedHeadOid`` (1 request);
- new branch or regenerate from a new parent: ``updateRefs`` (compare-and-swap from ``expected_head``,
  the zero oid meaning "must not exist") then ``createCommitOnBranch`` expecting the parent, in one
  document (1 request). The pair is not a transaction: the ref can move and the commit fail;
- deletions of paths the parent does not have are left out (``createCommitOnBranch`` refuses the
  whole commit otherwise): 1 more query, only when the change has deletions.

GitHub's schema does not say how a lost compare-and-swap is reported, and some server faults come as
HTTP 200 with an untyped error. So after ANY error of a write the branch is read (1 request) and:
its head is our commit (the answer was lost, or only the ref step was refused) → success; it is
where we left it → nothing happened (``Transient``, or the error itself when it is about rate,
credentials, permissions or existence); it sits on the parent without our commit (the ref moved,
the commit failed) → ``Transient`` (the next reconcile commits again on the bare branch); anywhere
else → someone else moved it → ``Conflict``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.ports import FileChange
from bot.errors import (
    AuthError,
    Conflict,
    ForgeError,
    NotFound,
    PermissionDenied,
    RateLimited,
    Transient,
    ValidationFailed,
)
from bot.forges.github.calls import Calls
from bot.forges.github.graphql import (
    COMMIT_ON_BRANCH,
    HEAD_COMMIT,
    READ_CHUNK,
    REF_THEN_COMMIT,
    UPDATE_REFS,
    commit_input,
    exists_query,
    joined_message,
    object_variables,
    ref_update,
    split_message,
)
from bot.forges.github.nodes import NodeIds

#: errors that say nothing about the branch (rate, credentials, permission, a missing repository):
#: when the branch did not move they are reported as they are, anything else becomes Transient
_KEPT = (RateLimited, AuthError, PermissionDenied, NotFound)


@dataclass(frozen=True, slots=True)
class Head:
    oid: str
    parents: tuple[str, ...]
    message: str


@dataclass(frozen=True, slots=True)
class _Attempt:
    """What a write expected: the branch before it, the commit it makes (parent and message), the
    commit oid an answer reported, and where a half-done ref move leaves the branch."""

    branch: str
    before: str | None
    parent: str | None
    message: str | None
    landed: str | None = None
    half: str | None = None


class CommitWriter:
    def __init__(self, calls: Calls, ids: NodeIds) -> None:
        self._calls = calls
        self._ids = ids

    # --- the port's writes -----------------------------------------------------------------------
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
        if not changes:
            raise ValidationFailed(f"commit on {repo}@{branch}: no changes (refusing an empty commit)")
        changes = self._without_missing_deletions(repo, parent, changes)
        if not changes:  # every change deleted a path the parent does not have: the parent is the result
            if expected_head != parent:
                self.move_ref(repo, branch, before=expected_head, after=parent)
            return parent
        if expected_head == parent:
            return self._commit(repo, branch, parent, changes, message)
        return self._move_and_commit(
            repo, branch, expected_head, parent=parent, changes=changes, message=message
        )

    def move_ref(self, repo: str, branch: str, *, before: str | None, after: str) -> None:
        """Point ``refs/heads/<branch>`` at ``after`` only if it points at ``before`` now (None =
        must not exist): one atomic ``updateRefs``."""
        what = f"move {repo}@{branch}"
        variables = {"input": ref_update(self._ids.repo_id(repo), branch, before, after)}
        _data, err = self._calls.graphql_attempt(repo, UPDATE_REFS, variables, what)
        if err is not None:
            self._decide(repo, what, err, _Attempt(branch, before, None, None, landed=after))

    # --- the two commit shapes -------------------------------------------------------------------
    def _commit(
        self, repo: str, branch: str, parent: str, changes: Sequence[FileChange], message: str
    ) -> str:
        what = f"commit on {repo}@{branch}"
        payload = commit_input(repo, branch, parent, changes, message)
        data, err = self._calls.graphql_attempt(repo, COMMIT_ON_BRANCH, {"input": payload}, what)
        oid = _commit_oid(data)
        if err is None and oid:
            return oid
        return self._decide(repo, what, err, _Attempt(branch, parent, parent, message, landed=oid))

    def _move_and_commit(
        self,
        repo: str,
        branch: str,
        before: str | None,
        *,
        parent: str,
        changes: Sequence[FileChange],
        message: str,
    ) -> str:
        what = f"commit on {repo}@{branch}"
        variables = {
            "refs": ref_update(self._ids.repo_id(repo), branch, before, parent),
            "commit": commit_input(repo, branch, parent, changes, message),
        }
        data, err = self._calls.graphql_attempt(repo, REF_THEN_COMMIT, variables, what)
        oid = _commit_oid(data)
        if err is None and oid:
            return oid
        return self._decide(
            repo, what, err, _Attempt(branch, before, parent, message, landed=oid, half=parent)
        )

    # --- deciding from the branch ------------------------------------------------------------------
    def head(self, repo: str, branch: str) -> Head | None:
        owner, name = repo.split("/", 1)
        variables = {"owner": owner, "name": name, "ref": f"refs/heads/{branch}"}
        data = self._calls.graphql(repo, HEAD_COMMIT, variables, f"read {repo}@{branch}")
        found = data.get("repository") or {}
        self._ids.remember_repo(repo, found.get("id"))
        target = (found.get("ref") or {}).get("target") or {}
        if not target.get("oid"):
            return None
        parents = tuple(p["oid"] for p in (target.get("parents") or {}).get("nodes") or ())
        return Head(target["oid"], parents, target.get("message") or "")

    def _decide(self, repo: str, what: str, err: ForgeError | None, attempt: _Attempt) -> str:
        try:
            head = self.head(repo, attempt.branch)
        except ForgeError:
            raise err or Transient(f"{what}: no answer, and the branch could not be read") from None
        at = head.oid if head else None
        if head is not None and _ours(head, attempt):
            return head.oid
        reason = err.message if err else "the answer carried no commit"
        if at == attempt.before:
            if isinstance(err, _KEPT):
                raise err
            raise Transient(f"{what}: nothing was written ({reason}); trying again is safe")
        if attempt.half is not None and at == attempt.half:
            raise Transient(
                f"{what}: the branch was moved to {at[:12]} but the commit did not land ({reason}); "
                "the next reconcile commits on it again"
            )
        raise Conflict(
            f"{what}: the branch is at {at or 'nothing'}, not {attempt.before or 'absent'}: moved meanwhile"
        )

    def _without_missing_deletions(
        self, repo: str, parent: str, changes: Sequence[FileChange]
    ) -> list[FileChange]:
        """Drop deletions of paths ``parent`` does not have (one query per ``READ_CHUNK`` of them)."""
        deleted = [c.path for c in changes if c.content is None]
        present: set[str] = set()
        for start in range(0, len(deleted), READ_CHUNK):
            chunk = deleted[start : start + READ_CHUNK]
            data = self._calls.graphql(
                repo,
                exists_query(len(chunk)),
                object_variables(repo, parent, chunk),
                f"check {len(chunk)} deleted paths at {parent[:12]} in {repo}",
            )
            found = data.get("repository") or {}
            present.update(path for i, path in enumerate(chunk) if found.get(f"f{i}"))
        return [c for c in changes if c.content is not None or c.path in present]


def _commit_oid(data: dict) -> str | None:  # type: ignore[type-arg]
    return ((data.get("createCommitOnBranch") or {}).get("commit") or {}).get("oid")


def _ours(head: Head, attempt: _Attempt) -> bool:
    """The branch holds what this write meant to leave: the commit the answer named, or (the answer
    was lost) a commit on the expected parent with our message; for a bare ref move, its target."""
    if attempt.landed is not None and head.oid == attempt.landed:
        return True
    if attempt.parent is None or attempt.message is None:
        return False
    return head.parents == (attempt.parent,) and head.message == joined_message(
        split_message(attempt.message)
    )

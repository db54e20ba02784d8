"""An in-memory repository the GitHub and GitLab fakes share: commits with authors, file trees,
branches, and PR/MR records with comments and reactions.

History is linear per commit (one parent), which is all the bot ever writes and all a person's
push in the tests needs. Shas are deterministic (``f"{n:040x}"``) so runs are reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Changes = Mapping[str, bytes | None]


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    email: str
    login: str | None = None  # the forge account (GitHub knows it; GitLab commits do not carry it)


SEED = Person("Seed Person", "seed@example.com", "seed")


@dataclass(frozen=True, slots=True)
class Commit:
    sha: str
    parent: str | None
    tree: dict[str, bytes]
    author: Person
    message: str


@dataclass(slots=True)
class Comment:
    id: int
    author: str
    body: str
    reactions: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PrRecord:
    number: int
    head: str
    base: str
    title: str
    body: str
    author: str
    state: Literal["open", "closed", "merged"] = "open"
    draft: bool = False
    labels: list[str] = field(default_factory=list)
    assignees: list[str] = field(default_factory=list)
    reviewers: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)


class Git:
    """Commits, trees, branches and PRs of one repository."""

    def __init__(self, files: Mapping[str, bytes], *, branch: str = "main", author: Person = SEED) -> None:
        self.commits: dict[str, Commit] = {}
        self.refs: dict[str, str] = {}
        self.prs: dict[int, PrRecord] = {}
        self._comment_ids = 0
        self.refs[branch] = self.commit(None, dict(files), author=author, message="initial manifests")

    # --- reading ---------------------------------------------------------------------------------
    def resolve(self, ref: str) -> str | None:
        """A branch name, ``refs/heads/<name>`` or a full sha → sha (None when unknown)."""
        ref = ref.removeprefix("refs/heads/")
        if ref in self.refs:
            return self.refs[ref]
        return ref if ref in self.commits else None

    def tree(self, ref: str) -> dict[str, bytes] | None:
        sha = self.resolve(ref)
        return self.commits[sha].tree if sha else None

    def ancestors(self, sha: str) -> list[str]:
        """``sha`` and its ancestors, newest first."""
        out: list[str] = []
        cur: str | None = sha
        while cur is not None:
            out.append(cur)
            cur = self.commits[cur].parent
        return out

    def merge_base(self, a: str, b: str) -> str | None:
        seen = set(self.ancestors(a))
        return next((s for s in self.ancestors(b) if s in seen), None)

    def between(self, base: str, head: str) -> list[Commit]:
        """Commits reachable from ``head`` and not from ``base``, oldest first."""
        hidden = set(self.ancestors(base))
        return [self.commits[s] for s in reversed(self.ancestors(head)) if s not in hidden]

    def diff(self, base: str, head: str) -> list[str]:
        """Paths whose content differs between two commits."""
        a, b = self.commits[base].tree, self.commits[head].tree
        return sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p))

    def three_dot(self, base: str, head: str) -> list[str]:
        """What a forge's compare ``base...head`` lists: changes on ``head`` since the merge base."""
        mb = self.merge_base(base, head)
        return self.diff(mb, head) if mb else sorted(self.commits[head].tree)

    def conflicts(self, base: str, head: str) -> bool:
        """A file-level three-way merge: both sides changed one path to different contents."""
        mb = self.merge_base(base, head)
        if mb is None:
            return True
        ours, theirs = self.commits[base].tree, self.commits[head].tree
        both = set(self.diff(mb, base)) & set(self.diff(mb, head))
        return any(ours.get(p) != theirs.get(p) for p in both)

    # --- writing ---------------------------------------------------------------------------------
    def commit(self, parent: str | None, changes: Changes, *, author: Person, message: str) -> str:
        sha = f"{len(self.commits) + 1:040x}"
        tree = dict(self.commits[parent].tree) if parent else {}
        for path, data in changes.items():
            if data is None:
                tree.pop(path, None)
            else:
                tree[path] = data
        self.commits[sha] = Commit(sha, parent, tree, author, message)
        return sha

    def push(self, branch: str, changes: Changes, *, author: Person, message: str = "edit") -> str:
        """Commit on top of ``branch`` and move it (what a person's ``git push`` does)."""
        sha = self.commit(self.refs[branch], changes, author=author, message=message)
        self.refs[branch] = sha
        return sha

    def open_pr(self, head: str, base: str, title: str, body: str, author: str) -> PrRecord:
        pr = PrRecord(len(self.prs) + 1, head, base, title, body, author)
        self.prs[pr.number] = pr
        return pr

    def add_comment(self, number: int, author: str, body: str) -> Comment:
        self._comment_ids += 1
        comment = Comment(self._comment_ids, author, body)
        self.prs[number].comments.append(comment)
        return comment

    def find_comment(self, comment_id: int) -> Comment | None:
        return next((c for pr in self.prs.values() for c in pr.comments if c.id == comment_id), None)

    def mergeable(self, pr: PrRecord) -> bool | None:
        head, base = self.refs.get(pr.head), self.refs.get(pr.base)
        if pr.state != "open" or head is None or base is None:
            return None
        return not self.conflicts(base, head)

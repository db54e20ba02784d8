"""Thin, shell-free wrapper around the ``git`` CLI for one repository (bare or not).

Everything goes through plumbing so no working tree is needed: blobs with ``hash-object``, trees
through a temporary index (``GIT_INDEX_FILE``), ``commit-tree`` and ``update-ref`` with the
expected old value (a real compare-and-swap). Failures become ``bot.errors`` whose messages name
the git subcommand and the repository, never the command line (it may hold a remote's
credentials) or the server's directories, and pass ``bot.logs.redact``.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from bot.core.ports import Blob
from bot.errors import Conflict, ForgeError, NotFound, Transient
from bot.forges.local.signing import Signing
from bot.logs import redact

ZERO_SHA = "0" * 40
GIT_TIMEOUT_S = 60.0
#: git's words for a ref or index lock another process holds (transient: it is released soon)
_LOCKED = re.compile(r"cannot lock ref|Unable to create '[^']*\.lock'|\.lock': File exists", re.IGNORECASE)
#: a full object id: SHA-1 (40 hex) or SHA-256 (64 hex) repositories
KNOWN_COMMITS = 4096  # commit ids remembered per repository
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def failure(what: str, err: str) -> ForgeError:
    """A failed git command as a bot error (``err`` already redacted): a lock another git process
    holds on a ref or the index is Transient (released in a moment, so retried), anything else
    permanent."""
    if _LOCKED.search(err):
        return Transient(f"{what}: a lock is held: {err}")
    return ForgeError(f"{what}: {err}")


class GitRepo:
    """One repository on disk; ``identity`` is (name, email) used for commits we make, and
    ``signing`` (when given) signs every one of them."""

    def __init__(
        self,
        path: Path,
        identity: tuple[str, str],
        *,
        timeout_s: float = GIT_TIMEOUT_S,
        signing: Signing | None = None,
    ) -> None:
        self.path = path
        self.identity = identity
        self.timeout_s = timeout_s
        self.signing = signing
        #: commit ids known to exist (commits never change): not asked of git again
        self._commits: OrderedDict[str, None] = OrderedDict()

    # --- running git ---------------------------------------------------------------------------
    def run(
        self,
        *args: str,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        check: bool = True,
        config: Sequence[str] = (),
    ) -> subprocess.CompletedProcess[bytes]:
        """``git -C <repo> [config] <args>``; ``config`` holds ``-c key=value`` pairs."""
        full_env = {
            **os.environ,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "LC_ALL": "C",
            **(env or {}),
        }
        try:
            proc = subprocess.run(
                ["git", "-C", str(self.path), *config, *args],
                input=input,
                capture_output=True,
                env=full_env,
                start_new_session=True,  # no terminal: nothing (ssh-keygen, a remote) may prompt
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            # the exception's text is the command line: neither it nor its chain may travel. A
            # command that hangs (a remote that does not answer) is worth trying again later.
            took = f"{self.timeout_s:g} s"
            raise Transient(f"git {args[0]} in {self.path.name} timed out after {took}") from None
        except OSError as exc:
            raise ForgeError(f"git {args[0]} could not run: {exc.strerror}") from None
        if check and proc.returncode != 0:
            raise failure(f"git {args[0]} failed in {self.path.name}", _stderr(proc))
        return proc

    def out(
        self,
        *args: str,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        config: Sequence[str] = (),
    ) -> str:
        return self.run(*args, input=input, env=env, config=config).stdout.decode("utf-8", "replace").strip()

    # --- reading -------------------------------------------------------------------------------
    def resolve(self, ref: str) -> str | None:
        """The commit sha ``ref`` names, or None."""
        if ref in self._commits:
            return ref
        if ref.startswith("-"):
            return None
        proc = self.run("rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False)
        if proc.returncode != 0:
            return None
        return self._known(proc.stdout.decode().strip() or None)

    def _known(self, sha: str | None) -> str | None:
        if sha is not None:
            self._commits[sha] = None
            self._commits.move_to_end(sha)
            if len(self._commits) > KNOWN_COMMITS:
                self._commits.popitem(last=False)
        return sha

    def branch_head(self, branch: str) -> str | None:
        return self.resolve(f"refs/heads/{branch}")

    def branch_heads(self, branches: Sequence[str]) -> dict[str, str | None]:
        """The tips of several branches (None: no such branch) with one ``git for-each-ref``."""
        wanted = {f"refs/heads/{b}": b for b in branches}
        raw = self.out("for-each-ref", "--format=%(refname)%00%(objecttype)%00%(objectname)", *wanted)
        heads: dict[str, str | None] = dict.fromkeys(branches)
        for line in raw.splitlines():
            name, kind, sha = line.split("\0")
            if name in wanted:  # a pattern also matches the refs under it: only exact names count
                heads[wanted[name]] = self._known(sha) if kind == "commit" else self.branch_head(wanted[name])
        return heads

    def require(self, ref: str) -> str:
        sha = self.resolve(ref)
        if sha is None:
            raise NotFound(f"{self.path.name}: no commit or branch named {ref!r}")
        return sha

    def read_blob(self, ref: str, path: str) -> bytes:
        sha = self.require(ref)
        proc = self.run("cat-file", "blob", f"{sha}:{path}", check=False)
        if proc.returncode != 0:
            raise NotFound(f"{self.path.name}: {path} does not exist at {ref}")
        return proc.stdout

    def read_objects(self, shas: Sequence[str]) -> dict[str, bytes | None]:
        """Blob sha → bytes (None when the repository has no such blob, or it is not a blob) for
        every sha, in one ``cat-file --batch`` process fed one ``<sha>`` line each.

        By object id git looks each object up directly; a ``<commit>:<path>`` name would make it
        walk the commit's tree once per file. Answers come in request order (a missing one echoed
        as ``<sha> missing``), so they are matched by position."""
        wanted = list(dict.fromkeys(shas))
        if not wanted:
            return {}
        for sha in wanted:
            if not _OBJECT_ID.fullmatch(sha):
                raise ForgeError(f"{self.path.name}: not an object id: {sha[:80]!r}")
        names = [sha.encode() for sha in wanted]
        raw = self.run("cat-file", "--batch", input=b"".join(n + b"\n" for n in names)).stdout
        out: dict[str, bytes | None] = {}
        pos = 0
        for sha, name in zip(wanted, names, strict=True):
            out[sha], pos = _batch_answer(raw, pos, name)
        return out

    def blob_listing(self, commit: str) -> dict[str, Blob]:
        """path → blob (sha and size in bytes) for every file of ``commit``'s tree, from one
        ``ls-tree -r -l`` (submodule entries are commits, not blobs, and are left out)."""
        raw = self.run("ls-tree", "-r", "-z", "-l", commit).stdout.decode("utf-8", "replace")
        entries: dict[str, Blob] = {}
        for item in raw.split("\0"):
            if not item:
                continue
            meta, _, path = item.partition("\t")
            _mode, kind, blob, size = meta.split()
            if kind == "blob":
                entries[path] = Blob(blob, int(size))
        return entries

    def tree_entries(self, ref: str, paths: Sequence[str] = ()) -> dict[str, tuple[str, str]]:
        """path → (mode, blob sha) for every blob at ``ref`` (or only ``paths``)."""
        return self._tree_entries(self.require(ref), paths)

    def _tree_entries(self, sha: str, paths: Sequence[str]) -> dict[str, tuple[str, str]]:
        raw = self.run("ls-tree", "-r", "-z", sha, "--", *paths).stdout.decode("utf-8", "replace")
        entries: dict[str, tuple[str, str]] = {}
        for item in raw.split("\0"):
            if not item:
                continue
            meta, _, path = item.partition("\t")
            mode, kind, blob = meta.split(" ")
            if kind == "blob":
                entries[path] = (mode, blob)
        return entries

    def changed_paths(self, base: str, head: str) -> list[str]:
        raw = self.run(
            "diff-tree", "-r", "-z", "--no-renames", "--name-only", self.require(base), self.require(head)
        ).stdout.decode("utf-8", "replace")
        return sorted(p for p in raw.split("\0") if p)

    def log(self, base: str, head: str) -> list[list[str]]:
        """Fields of each commit in base..head, oldest first (see ``_LOG_FORMAT``)."""
        fmt = "%H%x00%P%x00%an%x00%ae%x00%cn%x00%ce%x00%B%x1e"
        raw = self.run(
            "log",
            "--reverse",
            "--topo-order",
            f"--format={fmt}",
            f"{self.require(base)}..{self.require(head)}",
        ).stdout.decode("utf-8", "replace")
        return [rec.strip("\n").split("\0") for rec in raw.split("\x1e") if rec.strip("\n")]

    # --- writing -------------------------------------------------------------------------------
    def make_commit(self, parent: str, files: Mapping[str, bytes | None], message: str) -> str:
        """A new commit object on ``parent`` with ``files`` replaced (None deletes); no ref moves."""
        parent_sha = self.require(parent)
        modes = self._tree_entries(parent_sha, list(files))
        with tempfile.TemporaryDirectory(prefix="mb-index-") as tmp:
            blobs = self._write_blobs(Path(tmp), [c for c in files.values() if c is not None])
            lines = []
            for path, content in files.items():
                if content is None:
                    lines.append(f"0 {ZERO_SHA}\t{path}")
                else:
                    lines.append(f"{modes.get(path, ('100644', ''))[0]} {next(blobs)}\t{path}")
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            self.run("read-tree", parent_sha, env=env)
            index_info = "".join(line + "\0" for line in lines).encode()
            self.run("update-index", "-z", "--index-info", input=index_info, env=env)
            tree = self.out("write-tree", env=env)
        return self.commit_tree(tree, [parent_sha], message)

    def _write_blobs(self, tmp: Path, contents: Sequence[bytes]) -> Iterator[str]:
        """Store ``contents`` as blobs with one ``git hash-object -w --stdin-paths`` (rather than a
        process per file); their shas, in order."""
        if not contents:
            return iter(())
        names = []
        for n, content in enumerate(contents):
            (tmp / f"blob{n}").write_bytes(content)
            names.append(str(tmp / f"blob{n}"))
        shas = self.out("hash-object", "-w", "--no-filters", "--stdin-paths", input="\n".join(names).encode())
        found = shas.split()
        if len(found) != len(contents):
            stored = f"{len(found)} of {len(contents)}"
            raise ForgeError(f"git hash-object stored {stored} blobs in {self.path.name}")
        return iter(found)

    def commit_tree(self, tree: str, parents: Sequence[str], message: str) -> str:
        name, email = self.identity
        env = {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        config: list[str] = []
        if self.signing is not None:
            args.append("-S")
            config = self.signing.git_config()
            env |= self.signing.env()
        return self._known(self.out(*args, "-F", "-", input=message.encode(), env=env, config=config)) or ""

    def note(self, ref: str, sha: str) -> bytes | None:
        """The note ``refs/notes/<ref>`` keeps on commit ``sha`` (None: none)."""
        proc = self.run("notes", f"--ref={ref}", "show", self.require(sha), check=False)
        return proc.stdout if proc.returncode == 0 else None

    def set_note(self, ref: str, sha: str, text: bytes) -> None:
        """Replace the note ``refs/notes/<ref>`` keeps on commit ``sha``."""
        name, email = self.identity
        env = {
            "GIT_AUTHOR_NAME": name,
            "GIT_AUTHOR_EMAIL": email,
            "GIT_COMMITTER_NAME": name,
            "GIT_COMMITTER_EMAIL": email,
        }
        self.run("notes", f"--ref={ref}", "add", "-f", "-F", "-", self.require(sha), input=text, env=env)

    def cas_ref(self, branch: str, new: str | None, expected: str | None) -> None:
        """Move (or delete, ``new=None``) ``refs/heads/<branch>`` only if it is at ``expected``."""
        ref = f"refs/heads/{branch}"
        if new is None:
            args = ["update-ref", "-d", ref] + ([expected] if expected else [])
        else:
            args = ["update-ref", ref, new, expected or ZERO_SHA]
        proc = self.run(*args, check=False)
        if proc.returncode == 0:
            return
        now = self.branch_head(branch)
        if now != expected:
            raise Conflict(
                f"{self.path.name}: branch {branch} is at {now or 'nothing'}, "
                f"expected {expected or 'nothing'}"
            )
        raise failure(f"git update-ref failed in {self.path.name}", _stderr(proc))

    # --- a branch checked out in this repository's work tree -----------------------------------
    @cached_property
    def bare(self) -> bool:
        return self.out("rev-parse", "--is-bare-repository") == "true"

    def checked_out(self, branch: str) -> bool:
        """True when this is a non-bare repository whose work tree has ``branch`` checked out."""
        if self.bare:
            return False
        proc = self.run("symbolic-ref", "-q", "HEAD", check=False)
        return proc.returncode == 0 and proc.stdout.decode().strip() == f"refs/heads/{branch}"

    def dirty(self) -> bool:
        """The work tree or the index differs from HEAD (untracked files do not count), as
        ``receive.denyCurrentBranch=updateInstead`` checks before a push updates it."""
        self.run("update-index", "-q", "--refresh", check=False)
        if self.run("diff-files", "--quiet", check=False).returncode != 0:
            return True
        if self.resolve("HEAD") is None:  # an unborn branch: anything in the index is a change
            return bool(self.out("ls-files"))
        return self.run("diff-index", "--quiet", "--cached", "HEAD", check=False).returncode != 0

    def update_work_tree(self, old: str | None, new: str) -> None:
        """Move the index and work tree from ``old`` to ``new`` (``git read-tree -u -m``, what
        ``git checkout`` does), checking every path before it writes one."""
        self.run("read-tree", "-u", "-m", *([old] if old else []), new)

    def merge_tree(self, base: str, head: str) -> str | None:
        """The tree of merging ``head`` into ``base``, or None on a conflict (git ≥ 2.38)."""
        proc = self.run("merge-tree", "--write-tree", "--no-messages", base, head, check=False)
        if proc.returncode == 1:
            return None
        if proc.returncode != 0:
            raise ForgeError(f"git merge-tree failed in {self.path.name}: {_stderr(proc)}")
        return proc.stdout.decode().split("\n", 1)[0].strip()

    def is_ancestor(self, ancestor: str, commit: str) -> bool:
        return self.run("merge-base", "--is-ancestor", ancestor, commit, check=False).returncode == 0

    def push_with_lease(self, remote: str, branch: str, new: str | None, expected: str | None) -> None:
        """``git push --force-with-lease`` of ``new`` (None deletes) to the remote's branch."""
        ref = f"refs/heads/{branch}"
        lease = f"--force-with-lease={ref}:{expected or ''}"
        spec = f"{new}:{ref}" if new else f":{ref}"
        proc = self.run("push", "--porcelain", lease, remote, spec, check=False)
        if proc.returncode == 0:
            return
        text = (proc.stdout + proc.stderr).decode("utf-8", "replace")
        where = remote_label(remote)
        if "stale info" in text or "rejected" in text or "fetch first" in text:
            raise Conflict(f"push to {where} {branch} rejected: the remote moved")
        last = text.strip().splitlines()[-1] if text.strip() else "no output"
        raise ForgeError(f"git push to {where} failed: {redact(last)}")


def remote_label(remote: str) -> str:
    """How a remote appears in messages: a URL as scheme, host and path (no credentials, no
    query); anything else (a server path, a remote name) as ``push_remote``."""
    if "://" not in remote:
        return "push_remote"
    parts = urlsplit(remote)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _stderr(proc: subprocess.CompletedProcess[bytes]) -> str:
    return redact(proc.stderr.decode("utf-8", "replace").strip())


def _batch_answer(raw: bytes, pos: int, name: bytes) -> tuple[bytes | None, int]:
    """One ``cat-file --batch`` answer at ``pos``: (blob bytes or None, position of the next)."""
    for status in (b" missing\n", b" ambiguous\n"):
        if raw.startswith(name + status, pos):
            return None, pos + len(name) + len(status)
    end = raw.find(b"\n", pos)
    if end < 0:
        raise ForgeError("git cat-file --batch answered fewer objects than asked")
    header = raw[pos:end].split(b" ")
    if len(header) != 3 or not header[2].isdigit():
        raise ForgeError(f"git cat-file --batch: unexpected answer {raw[pos:end][:80]!r}")
    size = int(header[2])
    start = end + 1
    content = raw[start : start + size]
    if len(content) != size:
        raise ForgeError("git cat-file --batch answer is shorter than its announced size")
    return (content if header[1] == b"blob" else None), start + size + 1

"""Real git repositories in a temp dir for the local forge and the lifecycle tests.

``seed_repo`` makes a repository (bare by default: the forge must not need a working tree) with
one commit on ``main``; ``human_commit`` commits as a person, through a throwaway clone-free
plumbing path, so tests can act like someone pushing to the bot's branch.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from bot.forges.local.adapter import LocalGitForge
from bot.forges.local.git import GitRepo


def git(path: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    full_env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", **(env or {})}
    proc = subprocess.run(["git", "-C", str(path), *args], capture_output=True, check=True, env=full_env)
    return proc.stdout.decode().strip()


def seed_repo(
    root: Path, name: str, files: Mapping[str, str], *, bare: bool = True, branch: str = "main"
) -> Path:
    path = root / (f"{name}.git" if bare else name)
    path.parent.mkdir(parents=True, exist_ok=True)
    args = ["init", "-q", f"--initial-branch={branch}"] + (["--bare"] if bare else [])
    subprocess.run(["git", *args, str(path)], check=True, capture_output=True)
    repo = GitRepo(path, ("Seed Person", "seed@example.com"))
    empty_tree = repo.out("mktree", input=b"")
    root_commit = repo.commit_tree(empty_tree, [], "root\n")
    repo.cas_ref(branch, root_commit, None)
    encoded = {k: v.encode() for k, v in files.items()}
    sha = repo.make_commit(root_commit, encoded, "initial manifests\n")
    repo.cas_ref(branch, sha, root_commit)
    if not bare:  # the work tree holds the branch, as after `git clone`
        git(path, "reset", "-q", "--hard")
    return path


def human_commit(
    forge: LocalGitForge, repo: str, branch: str, files: Mapping[str, str | None], *, who: str = "Alice"
) -> str:
    """Commit ``files`` on top of ``branch`` as a person (not the bot) and move the branch."""
    person = GitRepo(forge.repo_path(repo), (who, f"{who.lower()}@example.com"))
    head = person.require(f"refs/heads/{branch}")
    encoded = {k: (v.encode() if v is not None else None) for k, v in files.items()}
    sha = person.make_commit(head, encoded, f"edit by {who}\n")
    person.cas_ref(branch, sha, head)
    return sha


def commit_count(forge: LocalGitForge, repo: str, ref: str) -> int:
    return int(git(forge.repo_path(repo), "rev-list", "--count", ref))

"""The demo's manifest repository: ``config/examples/manifests`` committed to a fresh git repo, and
the routing config pointed at it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import bot

REPO = "example/shop-deploy"
BASE = "main"
#: the routing config's local forge path line (the first ``path:`` under ``forges:``)
_FORGE_PATH = re.compile(r"(?m)^(\s+path:\s*)(\S+)")
#: the routing config's ``forges:`` line (more forges are added right below it)
_FORGES = re.compile(r"(?m)^forges:\n")
#: the example's ``verify: false`` (its images live in no registry), turned on with a real one
_VERIFY_OFF = re.compile(r"(?m)^(\s+verify:\s*)false\b")


def default_examples() -> Path:
    """``config/examples`` of the source tree this package was installed from."""
    return Path(bot.__file__).resolve().parent.parent / "config" / "examples"


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "core.autocrlf=false", "-c", "init.defaultBranch=main", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {repo}: {result.stderr.strip()}")
    return result.stdout


def create_manifest_repo(examples: Path, root: Path) -> Path:
    """Copy the example manifests into ``root/example/shop-deploy`` and commit them on main."""
    if shutil.which("git") is None:
        raise RuntimeError("the demo needs the git command line (apt-get install git)")
    source = examples / "manifests"
    if not source.is_dir():
        raise RuntimeError(f"no example manifests at {source} (use --examples DIR)")
    repo = root / REPO
    shutil.copytree(source, repo)
    git(repo, "init", "-q", "-b", BASE)
    git(repo, "config", "user.name", "Demo Operator")
    git(repo, "config", "user.email", "operator@example.com")
    git(repo, "config", "commit.gpgsign", "false")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Manifests for dev, staging and prod")
    return repo


def write_routing_config(
    examples: Path, root: Path, target: Path, *, verify: bool = False, extra_forges: str = ""
) -> Path:
    """The example routing config with its local forge pointed at ``root``; with ``verify`` the
    bot asks the registry before writing (the demo runs a real one); ``extra_forges``: more
    entries of its ``forges:`` list (YAML lines)."""
    source = examples / "routing.yaml"
    text = source.read_text(encoding="utf-8")
    text, count = _FORGE_PATH.subn(lambda m: f"{m[1]}{root}", text, count=1)
    if count != 1:
        raise RuntimeError(f"{source}: no local forge 'path:' to point at the demo repos")
    if verify:
        text = _VERIFY_OFF.sub(lambda m: f"{m[1]}true ", text, count=1)
    if extra_forges:
        text, count = _FORGES.subn(lambda m: m[0] + extra_forges, text, count=1)
        if count != 1:
            raise RuntimeError(f"{source}: no 'forges:' list to add {extra_forges.strip()} to")
    target.write_text(text, encoding="utf-8")
    return target


def bot_commits(repo: Path) -> int:
    """Commits on any branch that are not on the base branch (every one of them is the bot's)."""
    return int(git(repo, "rev-list", "--count", "--all", "--not", BASE).strip() or 0)


def diff(repo: Path, head: str) -> str:
    return git(repo, "diff", "--no-color", "--no-ext-diff", f"{BASE}...{head}")


def diffstat(repo: Path, head: str) -> str:
    return git(repo, "diff", "--no-color", "--stat", f"{BASE}...{head}")

"""Benchmark: what live routing config costs a worker.

- ``check_us``: ``ConfigSource.refresh()`` when the file did not change (what every job start
  pays: one ``stat``), median over ``--checks`` calls;
- ``reload_ms``: taking a changed file of ``--rules`` rules (read, hash, parse, validate);
- ``pr_options_us``: a group's PR options from the config in use (what each reconcile asks);
- ``repo_file_first_ms`` / ``repo_file_cached_us``: a manifest repo's own file read at a commit
  through the local git forge (first time: a ``git cat-file``), then served from the sha cache.

The last line of output is JSON with those keys and the sizes.

    .venv/bin/python bench/config_reload.py [--rules 300] [--checks 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.core.keys import GroupKey  # noqa: E402
from bot.forges.local.adapter import LocalGitForge  # noqa: E402
from bot.services.config_source import ConfigSource  # noqa: E402
from bot.settings import Settings  # noqa: E402

REPO = "deploy"


def config_text(rules: int, root: Path, labels: str) -> str:
    lines = [
        "forges:",
        f"  - {{name: local, kind: local, path: '{root}'}}",
        "repo_files: {allow: [pr.labels, policy.ignore]}",
        "rules:",
    ]
    for i in range(rules):
        lines += [
            f"  - name: r{i}",
            f"    image: ghcr.io/acme/app{i}",
            f"    pr: {{labels: [{labels}]}}",
            "    policy: {semver: '^1.2'}",
            "    targets:",
        ]
        lines += [
            f"      - {{forge: local, repo: {REPO}, environment: {env}}}"
            for env in ("dev", "staging", "prod")
        ]
    return "\n".join(lines) + "\n"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def manifest_repo(root: Path) -> str:
    repo = root / REPO
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "bench")
    git(repo, "config", "user.email", "bench@example.com")
    (repo / ".manifest-bot.yaml").write_text("pr:\n  labels: [manifests]\npolicy:\n  ignore: ['1.5.*']\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "repo file")
    return git(repo, "rev-parse", "HEAD")


def timed(call, n: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rules", type=int, default=300)
    parser.add_argument("--checks", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "git"
        sha = manifest_repo(root)
        path = Path(tmp) / "routing.yaml"
        path.write_text(config_text(args.rules, root, "deps"))
        forge = LocalGitForge(root)
        source = ConfigSource(Settings(config_path=path), lambda _name: forge)
        source.current()
        check_us = statistics.median(timed(source.refresh, args.checks)) * 1e6
        reloads = []
        for k in range(5):
            path.write_text(config_text(args.rules, root, f"deps, v{k}"))
            os.utime(path, ns=(k + 1, k + 1))
            start = time.perf_counter()
            outcome = source.refresh().outcome
            reloads.append(time.perf_counter() - start)
            assert outcome == "loaded", outcome
        group = f"local:{REPO}:main:dev"
        options = source.pr_config(GroupKey.parse(group), ["ghcr.io/acme/app7"])
        pr_us = statistics.median(timed(lambda: options(None), 2000)) * 1e6
        start = time.perf_counter()
        problems = source.repo_problems("local", REPO, sha)
        first_ms = (time.perf_counter() - start) * 1000
        cached_us = statistics.median(timed(lambda: options(sha), 2000)) * 1e6
        assert problems == () and options(sha).labels == ("manifests",)
    summary = {
        "rules": args.rules,
        "checks": args.checks,
        "check_us": round(check_us, 2),
        "reload_ms": round(statistics.median(reloads) * 1000, 1),
        "pr_options_us": round(pr_us, 1),
        "repo_file_first_ms": round(first_ms, 2),
        "repo_file_cached_us": round(cached_us, 1),
    }
    print(
        f"unchanged check {check_us:.1f} µs; reload of {args.rules} rules {summary['reload_ms']} ms; "
        f"PR options {pr_us:.1f} µs; repo file {first_ms:.2f} ms first, {cached_us:.1f} µs cached"
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

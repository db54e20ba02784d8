"""Deployment reports: how many the bot handles per second, and what each costs the forge.

A real local git manifest repo with ``--prs`` merged bot PRs (each a squash commit on main), the
tests' Redis under a throw-away prefix, and the two halves a report goes through: ``record`` (the
deliveries consumer: Redis only) and ``tell`` (the deployment job: forge reads and comments), with
every forge call counted. Rounds:

- ``first``: a healthy report at main's head: every PR is looked at (one read) and told (one write);
- ``repeat``: the same state reported again at a later time: nobody is told, no forge call;
- ``failed``: the same revision degrades: every PR told again (its state changed);
- ``burst``: ``--reports`` reports of the same healthy state at increasing times, handled one by
  one (what Flux sends at every reconcile interval), with the PRs already told: the steady cost;
- ``flips``: ``--flips`` reports alternating failed and healthy: every PR told each time.

    .venv/bin/python bench/deployments.py [--prs 20] [--reports 200]

Last line: JSON {"reports_per_s", "forge_reads_per_pr_told", "forge_writes_per_pr_told",
"calls_repeat", ...}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._redis import REDIS_URL, connect  # noqa: E402
from bot.core.config import load_config  # noqa: E402
from bot.core.deployments import iso  # noqa: E402
from bot.core.events import DeploymentReported  # noqa: E402
from bot.forges.local.adapter import LocalGitForge  # noqa: E402
from bot.services.deployments import record, tell  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store.deployments import DeploymentStore, MergedPr  # noqa: E402
from bot.store.namespace import drop  # noqa: E402

READS = {"commits_between", "get_pr", "read_file", "branch_head"}
REPO = "manifests"


class Counted:
    """A forge whose every call is counted by method name."""

    def __init__(self, inner: LocalGitForge) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.inner, name)
        if not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return found(*args, **kwargs)

        return call


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def merged_repo(root: Path, prs: int) -> list[str]:
    """A repo with one squash commit per merged PR; their shas, oldest first."""
    repo = root / REPO
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "bench")
    git(repo, "config", "user.email", "bench@example.com")
    shas = []
    for n in range(prs):
        (repo / "app.yaml").write_text(f"image: registry.example.com/shop/web:1.{n}.0\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"bump #{n + 1}")
        shas.append(git(repo, "rev-parse", "HEAD"))
    return shas


def report(revision: str, health: str, at: float) -> DeploymentReported:
    reason = "ReconciliationSucceeded" if health == "healthy" else "HealthCheckFailed"
    stamp = iso(datetime.fromtimestamp(at, tz=UTC))
    obj = "Kustomization/flux-system/apps-dev"
    return DeploymentReported("flux", obj, revision, f"main@sha1:{revision}", health, reason, "", stamp)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prs", type=int, default=20, help="merged bot PRs in the environment")
    parser.add_argument("--reports", type=int, default=200, help="reports in the burst")
    parser.add_argument("--flips", type=int, default=10, help="health flips, each telling every PR")
    args = parser.parse_args()

    conn = connect()
    prefix = f"bench-deploy-{uuid.uuid4().hex[:8]}"
    settings = Settings(redis_url=REDIS_URL, redis_prefix=prefix)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            print(
                json.dumps(
                    run(Path(tmp), conn, settings, prs=args.prs, reports=args.reports, flips=args.flips)
                )
            )
    finally:
        drop(conn, prefix)


def run(tmp: Path, conn: Any, settings: Settings, *, prs: int, reports: int, flips: int) -> dict[str, Any]:
    shas = merged_repo(tmp, prs)
    local = LocalGitForge(tmp)
    for n, sha in enumerate(shas):  # the PRs those commits merged (their comments land there)
        local.set_branch(REPO, f"manifest-bot/dev/pr-{n + 1}", sha, expected_head=None)
        local.open_pr(REPO, f"manifest-bot/dev/pr-{n + 1}", "main", f"bump #{n + 1}", "")
    forge = Counted(local)
    text = f"""
forges: [{{name: local, kind: local, path: {tmp}}}]
environments:
  dev: {{deployments: [{{flux: Kustomization/flux-system/apps-dev}}]}}
"""
    config = load_config(text, "bench.yaml")
    store = DeploymentStore(conn, settings)
    group = f"local:{REPO}:main:dev"
    for n, sha in enumerate(shas):
        store.merged("dev", MergedPr(group, "local", REPO, n + 1, sha, 1000.0 + n, None, (f"web:1.{n}.0",)))
    head, t0 = shas[-1], 1_800_000_000.0

    def handle(event: DeploymentReported) -> tuple[int, Counter[str]]:
        before = forge.calls.copy()
        recorded = record(store, config, event)
        told = 0
        if recorded.tell is not None:
            told = len(tell(store, lambda _n: forge, recorded.tell, event, "/manifest-bot").told)  # type: ignore[arg-type,return-value]
        return told, forge.calls - before

    out: dict[str, Any] = {"prs": prs}
    for name, event in (
        ("first", report(head, "healthy", t0)),
        ("repeat", report(head, "healthy", t0 + 60)),
        ("failed", report(head, "failed", t0 + 120)),
    ):
        told, calls = handle(event)
        reads = sum(v for k, v in calls.items() if k in READS)
        writes = sum(calls.values()) - reads
        out[f"told_{name}"] = told
        out[f"calls_{name}"] = dict(calls)
        if name == "first":
            out["forge_reads_per_pr_told"] = round(reads / max(told, 1), 2)
            out["forge_writes_per_pr_told"] = round(writes / max(told, 1), 2)
    handle(report(head, "healthy", t0 + 180))  # healthy again: the steady state
    for name, count, health in (("burst", reports, lambda _k: "healthy"), ("flips", flips, _flip)):
        before = forge.calls.copy()
        started = time.perf_counter()
        for k in range(count):
            handle(report(head, health(k), t0 + 200 + (k if name == "burst" else reports + k)))
        took = time.perf_counter() - started
        out[f"{name}_reports"] = count
        out[f"{name}_forge_calls"] = sum((forge.calls - before).values())
        out[f"{name}_reports_per_s"] = round(count / took, 1) if took else None
    out["reports_per_s"] = out["burst_reports_per_s"]
    return out


def _flip(k: int) -> str:
    return "failed" if k % 2 == 0 else "healthy"


if __name__ == "__main__":
    main()

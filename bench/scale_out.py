"""Scale-out benchmark: 20 manifest repos (one group each), 400 signed deliveries for 40 images
(shuffled versions, ~10% sent twice), the local git forge behind a wrapper adding latency
(default 50 ms per call), and 1, 2 and 4 real ``manifest-bot worker`` processes on one Redis.

Each run starts its workers, waits until every one listens, then posts every delivery through
the Flask app and measures until nothing is on its way and every repo's PR branch holds the
highest version of each of its images. Throughput is deliveries per second of that time; the
ratios compare worker counts within the same run (the machine is noisy, ratios less so).
Needs Redis at $MANIFEST_BOT_TEST_REDIS_URL or 127.0.0.1:6379 (``bench/_redis.py``).

    .venv/bin/python bench/scale_out.py [--repos 20] [--deliveries 400] [--latency-ms 50] [--workers 1,2,4]

Last line: JSON with, per worker count, seconds, throughput, lost versions, PRs per group, failed
jobs; ``ratio_4_vs_2`` and whether the issue-20 target (>= 1.8) is met. Exit status 1 when it
cannot measure (no Redis, a run that does not settle, a version lost, a group with two PRs).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rq import Queue, Worker  # noqa: E402

from bench._redis import REDIS_URL, connect  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.forges.local.adapter import LocalGitForge  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import namespace  # noqa: E402
from bot.store.deliveries import DeliveryStore  # noqa: E402
from tests.integration.world import (  # noqa: E402
    SECRET,
    Post,
    Workers,
    failed_jobs,
    git,
    image_name,
    manifest,
    post_all,
    queues_idle,
    vkey,
    worker_env,
)

IMAGES_PER_REPO = 2
BRANCH = "manifest-bot/prod/prod"


def make_repos(root: Path, repos: int) -> Path:
    """``repos`` git repos, each with IMAGES_PER_REPO Deployments; the routing config's path."""
    rules = []
    for r in range(repos):
        repo = root / "git" / f"manifests{r:02d}"
        repo.mkdir(parents=True)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "config", "user.name", "seed")
        git(repo, "config", "user.email", "seed@example.com")
        for k in range(IMAGES_PER_REPO):
            i = r * IMAGES_PER_REPO + k
            (repo / f"app{i:02d}.yaml").write_text(manifest(i, "1.0.0"))
            target = {
                "forge": "local",
                "repo": repo.name,
                "environment": "prod",
                "files": [f"app{i:02d}.yaml"],
            }
            rules.append({"name": f"app{i:02d}", "image": image_name(i), "targets": [target]})
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "seed")
    config = {
        "version": 1,
        "forges": [{"name": "local", "kind": "local", "path": str(root / "git")}],
        "defaults": {"policy": {"ordering": "semver", "verify": False}},
        "rules": rules,
    }
    path = root / "config.yaml"
    path.write_text(json.dumps(config, indent=1))
    return path


def posts_for(images: int, n: int, seed: int = 3) -> list[Post]:
    rng = random.Random(seed)
    fresh = [Post(f"s{k:04d}", k % images, f"1.{rng.randint(1, 40)}.{rng.randint(0, 9)}") for k in range(n)]
    rng.shuffle(fresh)
    twice = [rng.choice(fresh) for _ in range(n // 10)]
    mixed = fresh + twice
    rng.shuffle(mixed)
    return mixed


def branch_tags(root: Path, repo: str) -> dict[int, str]:
    try:
        out = git(root / "git" / repo, "grep", "-h", "image: ", BRANCH, "--")
    except subprocess.CalledProcessError:
        return {}
    tags = {}
    for line in out.splitlines():
        name, _, tag = line.strip().removeprefix("image: ").rpartition(":")
        tags[int(name[-2:])] = tag
    return tags


def lost(root: Path, repos: int, want: dict[int, str]) -> int:
    missing = 0
    for r in range(repos):
        tags = branch_tags(root, f"manifests{r:02d}")
        missing += sum(1 for i, tag in want.items() if i // IMAGES_PER_REPO == r and tags.get(i) != tag)
    return missing


def run(n_workers: int, args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="scale-out-bench-"))
    config_path = make_repos(tmp, args.repos)
    prefix = f"mbbench{uuid.uuid4().hex[:8]}"
    settings = Settings.model_validate(
        {
            "redis_url": REDIS_URL,
            "redis_prefix": prefix,
            "config_path": config_path,
            "webhook_secrets": {"generic": (SECRET,)},
            "lock_timeout_s": 30,
            "log_level": "WARNING",
            "redis_require_aof": False,  # the tests' Redis runs without AOF
        }
    )
    conn = connect()
    wrap = {"redis_url": REDIS_URL, "key": settings.key("forge"), "latency_ms": args.latency_ms}
    workers = Workers(
        worker_env(settings, {"MB_TEST_WRAP": json.dumps(wrap)}),
        tmp,
        wrap="tests.integration.instrumented:wrap",
    )
    images = args.repos * IMAGES_PER_REPO
    posts = posts_for(images, args.deliveries)
    want: dict[int, str] = {}
    for p in posts:
        if p.image not in want or vkey(p.tag) > vkey(want[p.image]):
            want[p.image] = p.tag
    store = DeliveryStore(conn, settings)
    ids = sorted({p.delivery_id for p in posts})
    workers.start(n_workers)
    try:
        deadline = time.monotonic() + 60
        jobs = Queue(settings.queue("jobs"), connection=conn)
        while Worker.count(queue=jobs) < n_workers:
            if time.monotonic() > deadline:
                raise SystemExit(f"{n_workers} workers did not start within 60 s\n{workers.logs()}")
            time.sleep(0.05)
        app = create_app(settings=settings)
        start = time.monotonic()
        post_all(app, posts)
        posting = time.monotonic() - start

        def done() -> bool:
            if not queues_idle(conn, settings):
                return False
            if any((r := store.record(i)) is None or r.status != "processed" for i in ids):
                return False
            return lost(tmp, args.repos, want) == 0

        deadline = time.monotonic() + args.timeout
        while not done():
            if time.monotonic() > deadline:
                raise SystemExit(f"{n_workers} workers did not settle in {args.timeout} s\n{workers.logs()}")
            time.sleep(0.05)
        seconds = time.monotonic() - start
    finally:
        workers.stop()
    forge = LocalGitForge(tmp / "git")
    prs = [
        sum(
            1 for pr in forge.list_prs(f"manifests{r:02d}") if pr.state == "open" and pr.head_branch == BRANCH
        )
        for r in range(args.repos)
    ]
    calls = {k.decode(): int(v) for k, v in conn.hgetall(settings.key("forge", "calls")).items()}
    result = {
        "workers": n_workers,
        "seconds": round(seconds, 2),
        "posting_s": round(posting, 2),  # of ``seconds``: the bench's own POSTs through the app
        "throughput_per_s": round(len(posts) / seconds, 1),
        "lost": lost(tmp, args.repos, want),
        "prs_per_group": sorted(set(prs)),
        "failed_jobs": len(failed_jobs(conn, settings)),
        "forge_calls": sum(v for k, v in calls.items() if not k.startswith("_")),
    }
    namespace.drop(conn, prefix)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--deliveries", type=int, default=400)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    runs = {}
    for n in counts:
        runs[n] = run(n, args)
        print(f"{n} worker(s):", json.dumps(runs[n]), flush=True)
    bad = [r for r in runs.values() if r["lost"] or r["prs_per_group"] != [1] or r["failed_jobs"]]
    summary: dict[str, Any] = {
        "deliveries": args.deliveries,
        "repos": args.repos,
        "runs": list(runs.values()),
    }
    if 2 in runs and 4 in runs:
        summary["ratio_4_vs_2"] = round(runs[4]["throughput_per_s"] / runs[2]["throughput_per_s"], 2)
        summary["target_met"] = summary["ratio_4_vs_2"] >= 1.8
    if 1 in runs and 2 in runs:
        summary["ratio_2_vs_1"] = round(runs[2]["throughput_per_s"] / runs[1]["throughput_per_s"], 2)
    print(json.dumps(summary))
    if bad:
        raise SystemExit(f"runs that lost work or opened more than one PR per group: {bad}")


if __name__ == "__main__":
    main()

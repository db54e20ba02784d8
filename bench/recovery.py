"""Recovery benchmark: a worker SIGKILLed right after it took work, again and again.

Two real ``manifest-bot worker`` processes on one Redis and one local git repo (4 images, three
environments). Each round arms a kill switch on one forge method (``bench/_kill_switch.py``),
posts one signed delivery with a new version, and the worker that reaches that call SIGKILLs
itself there, holding what it took: at ``observe`` (the repo lock held, the rq job started, the
delivery acknowledged), at ``commit_files`` (mid-reconcile, before the write) or at ``update_pr``
(the branch written, the PR not yet). A new worker starts in its place (as an orchestrator
restarts a pod). The round ends when every environment's PR branch holds the new version, every
delivery record says processed and nothing is queued or failed; its figure is the time from the
kill to then. Production defaults for locks and retries.

    .venv/bin/python bench/recovery.py [--kills 15] [--limit-s 30]

Last line: JSON with each round's seconds, the max and p50, and whether every change was on its
branch within the limit (issue 20: 30 s). Exit status 1 when it cannot measure (no Redis, a kill
that does not happen, a round that does not settle within 120 s).
"""

from __future__ import annotations

import argparse
import json
import statistics
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
from bot.settings import Settings  # noqa: E402
from bot.store import namespace  # noqa: E402
from bot.store.deliveries import DeliveryStore  # noqa: E402
from tests.integration.world import (  # noqa: E402
    SECRET,
    Post,
    Workers,
    failed_jobs,
    make_world,
    open_prs,
    post_all,
    queue_report,
    queues_idle,
    tags_at,
    worker_env,
)

WHERE = ("observe", "commit_files", "update_pr")
IMAGES = 4
SETTLE_S = 120


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=15)
    parser.add_argument("--limit-s", type=float, default=30.0)
    args = parser.parse_args()
    conn = connect()
    tmp = Path(tempfile.mkdtemp(prefix="recovery-bench-"))
    world = make_world(tmp, images=IMAGES)
    prefix = f"mbbench{uuid.uuid4().hex[:8]}"
    settings = Settings.model_validate(
        {
            "redis_url": REDIS_URL,
            "redis_prefix": prefix,
            "config_path": world.config_path,
            "webhook_secrets": {"generic": (SECRET,)},
            "log_level": "WARNING",
            "redis_require_aof": False,  # the tests' Redis runs without AOF
        }
    )
    switch = settings.key("bench", "kill")
    env = worker_env(settings, {"MB_KILL_SWITCH": json.dumps({"redis_url": REDIS_URL, "key": switch})})
    workers = Workers(env, tmp, wrap="bench._kill_switch:wrap")
    app = create_app(settings=settings)
    store = DeliveryStore(conn, settings)
    posts: list[Post] = []
    rounds: list[dict[str, Any]] = []
    running = workers.start(2)
    try:
        wait_workers(conn, settings, 2, workers)
        for n in range(args.kills):
            where = WHERE[n % len(WHERE)] if n else "observe"  # round 0 opens the PRs
            conn.set(f"{switch}:{where}", 1)
            post = Post(f"r{n:03d}", n % IMAGES, f"2.{n}.0")
            posts.append(post)
            post_all(app, [post], threads=1)
            wait(lambda n=n: conn.llen(f"{switch}:killed") > n, 60, f"round {n}: a kill at {where}")
            kill = json.loads(conn.lindex(f"{switch}:killed", n))
            dead = [p for p in running if p.poll() is not None] or wait_dead(running)
            for proc in dead:
                running.remove(proc)
                running += workers.start(1)
            settle_check = settled(conn, settings, world, store, posts)
            if not wait(settle_check, SETTLE_S, f"round {n} to settle", raise_=False):
                raise SystemExit(
                    f"round {n} (kill at {where}) did not settle in {SETTLE_S} s: "
                    f"{queue_report(conn, settings)}\n{workers.logs()}"
                )
            seconds = time.time() - kill["t"]
            rounds.append({"round": n, "killed_at": kill["at"], "seconds": round(seconds, 2)})
            print(json.dumps(rounds[-1]), flush=True)
    finally:
        workers.stop()
        failed = failed_jobs(conn, settings)
        namespace.drop(conn, prefix)
    secs = [r["seconds"] for r in rounds]
    summary = {
        "kills": len(rounds),
        "max_s": max(secs),
        "p50_s": round(statistics.median(secs), 2),
        "failed_jobs": len(failed),
        "limit_s": args.limit_s,
        "target_met": max(secs) <= args.limit_s and not failed,
        "rounds": rounds,
    }
    print(json.dumps(summary))


def wait(predicate: Any, timeout: float, what: str, raise_: bool = True) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    if raise_:
        raise SystemExit(f"timed out after {timeout} s waiting for {what}")
    return False


def wait_dead(running: list[Any]) -> list[Any]:
    wait(lambda: any(p.poll() is not None for p in running), 10, "the killed worker to exit")
    return [p for p in running if p.poll() is not None]


def wait_workers(conn: Any, settings: Settings, n: int, workers: Workers) -> None:
    jobs = Queue(settings.queue("jobs"), connection=conn)
    if not wait(lambda: Worker.count(queue=jobs) >= n, 60, "workers", raise_=False):
        raise SystemExit(f"{n} workers did not start within 60 s\n{workers.logs()}")


def settled(conn: Any, settings: Settings, world: Any, store: DeliveryStore, posts: list[Post]) -> Any:
    want: dict[int, str] = {}
    for p in posts:
        want[p.image] = p.tag  # each round's version is the highest yet
    ids = [p.delivery_id for p in posts]

    def check() -> bool:
        if not queues_idle(conn, settings):
            return False
        if any((r := store.record(i)) is None or r.status != "processed" for i in ids):
            return False
        heads = open_prs(world)
        for env in world.envs:
            if world.branch(env) not in heads:
                return False
            tags = tags_at(world, world.branch(env), env)
            if any(tags.get(i) != tag for i, tag in want.items()):
                return False
        return True

    return check


if __name__ == "__main__":
    main()

"""Race benchmark: 200 signed deliveries (20 images x 3 environments, duplicates, shuffled
versions, late old builds) posted concurrently through the Flask app; 2 real ``manifest-bot
worker`` processes; the local git forge behind a wrapper adding latency (default 50 ms per call)
and counting calls. Run once as built and once with coalescing disabled (one reconcile per event
and group, FIFO with the events, each one syncing: ``bench/race_baseline.py`` queues its own job
instead of the product's stream entry) on ``--baseline-events`` events (default 60:
at 50 ms per call every baseline sync costs about a second, so 200 would take ten minutes);
``write_ratio`` compares writes *per event*.
Needs Redis at $MANIFEST_BOT_TEST_REDIS_URL or 127.0.0.1:6379 (``bench/_redis.py``).

    .venv/bin/python bench/race.py [--events 200] [--latency-ms 50] [--workers 2]

Last line: JSON with events, lost, downgrades, forge_writes, writes_per_event, quiescence_s,
p50_latency_s, p95_latency_s, max_open_prs_per_group and the baseline's figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from rq import Queue, Worker  # noqa: E402

from bench._redis import REDIS_URL, connect  # noqa: E402
from bench.race_baseline import enqueue_all  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.jobs.dispatch import Dispatch  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import namespace  # noqa: E402
from bot.store.deliveries import DeliveryStore  # noqa: E402
from tests.integration.world import (  # noqa: E402
    SECRET,
    Post,
    Workers,
    World,
    downgrades,
    expected,
    make_world,
    open_prs,
    post_all,
    queues_idle,
    race_posts,
    signed,
    tags_at,
    vkey,
    worker_env,
)


def done(conn: redis.Redis, settings: Settings, world: World, posts: list[Post], *, recorded: bool) -> bool:
    """Nothing on its way, every version on its PR branch and (when the deliveries went through
    intake) every delivery recorded processed."""
    if not queues_idle(conn, settings):
        return False
    store = DeliveryStore(conn, settings)
    if recorded and any((r := store.record(p.delivery_id)) is None or r.status != "processed" for p in posts):
        return False
    return lost(world, posts) == 0


def lost(world: World, posts: list[Post]) -> int:
    """Posted images whose newest version some environment's PR branch does not hold."""
    want = expected(posts)
    missing = 0
    for env in world.envs:
        tags = tags_at(world, world.branch(env), env)
        missing += sum(1 for i, tag in want.items() if tags.get(i) != tag)
    return missing


def latencies(
    writes: list[dict[str, Any]], posts: list[Post], times: dict[str, float], envs: tuple[str, ...]
) -> list[float]:
    """Per delivery: seconds from its POST until every environment's PR branch holds its version
    or a higher one (0 when it already did: a late old build)."""
    state: dict[tuple[str, int], str] = {}
    timeline: list[tuple[float, dict[tuple[str, int], str]]] = []
    for w in sorted(writes, key=lambda w: w["t"]):
        for key, tag in w["tags"].items():
            env, i = key.split("/")
            state[(env, int(i))] = tag
        timeline.append((w["t"], dict(state)))
    out = []
    for post in {p.delivery: p for p in posts}.values():
        t0 = times[post.delivery]

        def ok(snapshot: dict[tuple[str, int], str], post: Post = post) -> bool:
            return all(vkey(snapshot.get((e, post.image), "1.0.0")) >= vkey(post.tag) for e in envs)

        before = [s for t, s in timeline if t <= t0]
        if before and ok(before[-1]):
            out.append(0.0)
            continue
        after = [t for t, s in timeline if t > t0 and ok(s)]
        if after:
            out.append(after[0] - t0)
    return sorted(out)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(q * len(values)))]


def run(coalesce: bool, args: argparse.Namespace, events: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="race-bench-"))
    world = make_world(tmp, images=20)
    prefix = f"mbbench{uuid.uuid4().hex[:8]}"
    settings = Settings.model_validate(
        {
            "redis_url": REDIS_URL,
            "redis_prefix": prefix,
            "config_path": world.config_path,
            "webhook_secrets": {"generic": (SECRET,)},
            "lock_timeout_s": 30,
            "log_level": "WARNING",
        }
    )
    conn = connect()
    wrap = {"redis_url": REDIS_URL, "key": settings.key("forge"), "latency_ms": args.latency_ms}
    workers = Workers(
        worker_env(settings, {"MB_TEST_WRAP": json.dumps(wrap)}),
        tmp,
        wrap="tests.integration.instrumented:wrap",
    )
    workers.start(args.workers)
    try:
        # wait until the workers listen, so the clock measures the bot rather than process start-up
        deadline = time.monotonic() + 60
        jobs = Queue(settings.queue("jobs"), connection=conn)
        while time.monotonic() < deadline and Worker.count(queue=jobs) < args.workers:
            time.sleep(0.05)
        posts = race_posts(world, n=events)
        start = time.time()
        if coalesce:
            times = post_all(create_app(settings=settings), posts)
        else:
            posted = enqueue_all(Dispatch(conn, settings), [signed(p) for p in posts])
            times = {}
            for post, at in zip(posts, posted, strict=True):
                times.setdefault(post.delivery, at)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and not done(conn, settings, world, posts, recorded=coalesce):
            time.sleep(0.05)
        quiescence = time.time() - start
        settled = done(conn, settings, world, posts, recorded=coalesce)
        calls = {k.decode(): int(v) for k, v in conn.hgetall(settings.key("forge", "calls")).items()}
        writes = [json.loads(x) for x in conn.lrange(settings.key("forge", "writes"), 0, -1)]
    finally:
        workers.stop()
    lat = latencies(writes, posts, times, world.envs)
    if args.timeline:
        first = min(times.values())
        print(f"posts: {max(times.values()) - first:.3f} s after the first", file=sys.stderr)
        for w in sorted(writes, key=lambda w: w["t"]):
            line = f"  {w['t'] - first:7.3f} s  {w.get('branch', '?')}  {len(w['tags'])} tags"
            print(line, file=sys.stderr)
    prs = open_prs(world)
    result = {
        "settled": settled,
        "events": len(posts),
        "lost": lost(world, posts),
        "downgrades": len(downgrades(world)),
        "forge_calls": sum(v for k, v in calls.items() if not k.startswith("_")),
        "forge_writes": calls.get("_writes", 0),
        "commits": calls.get("commit_files", 0),
        "quiescence_s": round(quiescence, 2),
        "p50_latency_s": round(pct(lat, 0.5), 2),
        "p95_latency_s": round(pct(lat, 0.95), 2),
        "max_open_prs_per_group": max((len(v) for v in prs.values()), default=0),
    }
    result["writes_per_event"] = round(result["forge_writes"] / len(posts), 3)
    namespace.drop(conn, prefix)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--timeline", action="store_true", help="print every write's time to stderr")
    parser.add_argument(
        "--baseline-events",
        type=int,
        default=60,
        help="events for the coalescing-off run (each event syncs every group: ~1 s each at 50 ms)",
    )
    args = parser.parse_args()
    ours = run(True, args, args.events)
    print("as built:          ", json.dumps(ours))
    if args.skip_baseline:
        print(json.dumps(ours))
        return
    base = run(False, args, args.baseline_events)
    print("coalescing off:    ", json.dumps(base))
    summary = {
        k: ours[k]
        for k in (
            "events",
            "lost",
            "downgrades",
            "forge_writes",
            "writes_per_event",
            "quiescence_s",
            "p50_latency_s",
            "p95_latency_s",
            "max_open_prs_per_group",
        )
    }
    summary.update(
        baseline_writes_per_event=base["writes_per_event"],
        baseline_lost=base["lost"],
        baseline_downgrades=base["downgrades"],
        baseline_events=base["events"],
        baseline_quiescence_s=base["quiescence_s"],
        baseline_p50_latency_s=base["p50_latency_s"],
        write_ratio=round(base["writes_per_event"] / max(ours["writes_per_event"], 1e-9), 1),
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

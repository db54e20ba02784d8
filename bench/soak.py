"""Soak benchmark: a steady stream of deliveries for minutes, with Redis keys, memory and intake
latency sampled throughout.

The real app under gunicorn (``bot/web/gunicorn_conf.py``, as ``manifest-bot serve`` runs it) and
two real ``manifest-bot worker`` processes on one Redis and a local git repo (20 images, three
environments). Open-loop senders post signed generic deliveries at a fixed rate (default 20,000
in 300 s): 40% new versions, 30% sent again under the same delivery id, 30% for images no rule
routes (recorded ignored). Every 10 s the bench counts the run's keys (its own prefix and rq's
keys that carry it) and their memory (``MEMORY USAGE``). At the end it waits until nothing is on
its way and checks every environment's PR branch holds the highest version of each image.

    .venv/bin/python bench/soak.py [--deliveries 20000] [--seconds 300]

Last line: JSON with the samples, the largest key count and memory after the first minute, the
intake p50/p99 of the last minute, failed jobs, and the issue-20 targets (<= 6,000 keys, flat;
p99 <= 25 ms; 0 failed). Exit status 1 when it cannot measure (no Redis, a server that does not
answer, a run that does not settle, a version lost).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import random
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._redis import REDIS_URL, connect  # noqa: E402
from bench.intake import Server  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import namespace  # noqa: E402
from tests.integration.world import (  # noqa: E402
    SECRET,
    Workers,
    failed_jobs,
    image_name,
    make_world,
    queue_report,
    queues_idle,
    tags_at,
    vkey,
    worker_env,
)

IMAGES = 20
SAMPLE_S = 10.0
SENDERS = 8


def plan(n: int, seed: int = 11) -> list[tuple[str, bytes]]:
    """(delivery id, body) in sending order: new versions, resends, unrouted images."""
    rng = random.Random(seed)
    out: list[tuple[str, bytes]] = []
    version = 0
    for k in range(n):
        r = rng.random()
        if r < 0.3 and out:
            out.append(rng.choice(out))  # the same delivery again (a sender's retry)
            continue
        if r < 0.6:
            body = {"image": f"ghcr.io/acme/unrouted-{k % 50}", "tag": f"0.{k}.0"}
        else:
            version += 1
            body = {"image": image_name(version % IMAGES), "tag": f"1.{version}.0"}
        out.append((f"soak{k:06d}", json.dumps(body).encode()))
    return out


def post(port: int, delivery: str, body: bytes) -> int:
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            "POST",
            "/webhooks/generic",
            body,
            {
                "Content-Type": "application/json",
                "X-Manifest-Bot-Signature-256": sig,
                "X-Manifest-Bot-Delivery": delivery,
            },
        )
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


def our_keys(conn: Any, prefix: str) -> list[bytes]:
    keys = list(conn.scan_iter(match=f"{prefix}*", count=2000))
    keys += list(conn.scan_iter(match=f"rq:*{prefix}*", count=2000))
    return keys


def sample(conn: Any, prefix: str, t0: float) -> dict[str, Any]:
    keys = our_keys(conn, prefix)
    pipe = conn.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key)
    used = sum(int(x or 0) for x in pipe.execute())
    return {"t": round(time.monotonic() - t0, 1), "keys": len(keys), "kb": round(used / 1024)}


def send_all(port: int, deliveries: list[tuple[str, bytes]], seconds: float, conn: Any, prefix: str) -> Any:
    """Post every delivery at its own time from SENDERS threads, sampling keys every SAMPLE_S.
    Returns (latencies as (sent at, seconds, status), samples, seconds it took, t0)."""
    latencies: list[tuple[float, float, int]] = []
    samples: list[dict[str, Any]] = []
    lock = threading.Lock()
    cursor = iter(range(len(deliveries)))
    gap = seconds / len(deliveries)
    t0 = time.monotonic()

    def sender() -> None:
        while True:
            with lock:
                k = next(cursor, None)
            if k is None:
                return
            if (ahead := t0 + k * gap - time.monotonic()) > 0:
                time.sleep(ahead)  # open-loop pacing: each delivery leaves at its own time
            started = time.monotonic()
            status = post(port, *deliveries[k])
            with lock:
                latencies.append((started - t0, time.monotonic() - started, status))

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(SENDERS)]
    for thread in threads:
        thread.start()
    next_sample = t0
    while any(t.is_alive() for t in threads):
        if time.monotonic() >= next_sample:
            samples.append(sample(conn, prefix, t0))
            print(json.dumps(samples[-1]), flush=True)
            next_sample += SAMPLE_S
        time.sleep(0.2)
    return latencies, samples, time.monotonic() - t0, t0


def lost_versions(world: Any, deliveries: list[tuple[str, bytes]]) -> list[tuple[str, int]]:
    want: dict[int, str] = {}
    for _, body in deliveries:
        data = json.loads(body)
        if "unrouted" not in data["image"]:
            i = int(data["image"][-2:])
            if i not in want or vkey(data["tag"]) > vkey(want[i]):
                want[i] = data["tag"]
    return [
        (env, i)
        for env in world.envs
        for i, tag in want.items()
        if tags_at(world, world.branch(env), env).get(i) != tag
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=20000)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--web-workers", type=int, default=None, help="gunicorn workers (default: its conf)")
    args = parser.parse_args()
    conn = connect()
    tmp = Path(tempfile.mkdtemp(prefix="soak-bench-"))
    world = make_world(tmp, images=IMAGES)
    prefix = f"mbbench{uuid.uuid4().hex[:8]}"
    values = {
        "redis_url": REDIS_URL,
        "redis_prefix": prefix,
        "config_path": world.config_path,
        "webhook_secrets": {"generic": (SECRET,)},
        "log_level": "WARNING",
        "redis_require_aof": False,  # the tests' Redis runs without AOF
    }
    settings = Settings.model_validate(values)
    env = worker_env(settings, {"MANIFEST_BOT_WEBHOOK_SECRET_GENERIC": SECRET})
    workers = Workers(env, tmp)
    from bot.web import gunicorn_conf

    server = Server("app", "bot.app:create_app()", args.web_workers or gunicorn_conf.workers, env, tmp)
    deliveries = plan(args.deliveries)
    try:
        server.wait_answering()
        workers.start(2)
        latencies, samples, sent_s, t0 = send_all(server.port, deliveries, args.seconds, conn, prefix)
        deadline = time.monotonic() + 180
        while not queues_idle(conn, settings):
            if time.monotonic() > deadline:
                report = queue_report(conn, settings)
                raise SystemExit(f"did not settle within 180 s: {report}\n{workers.logs()}")
            time.sleep(0.2)
        lost = lost_versions(world, deliveries)  # idle means done: nothing may still be on its way
        samples.append(sample(conn, prefix, t0))
        failed = failed_jobs(conn, settings)
    finally:
        workers.stop()
        server.stop()
        namespace.drop(conn, prefix)
    statuses: dict[int, int] = {}
    for _, _, status in latencies:
        statuses[status] = statuses.get(status, 0) + 1
    if lost:
        raise SystemExit(f"versions not on their branch: {lost[:10]} ({len(lost)} in all); {statuses}")
    print(json.dumps(summarise(deliveries, latencies, samples, sent_s, failed)))


def summarise(
    deliveries: list[Any], latencies: list[tuple[float, float, int]], samples: list[dict[str, Any]],
    sent_s: float, failed: list[str],
) -> dict[str, Any]:  # fmt: skip
    bad = [s for _, _, s in latencies if s not in (200, 202)]
    last = sorted(x for at, x, s in latencies if at >= sent_s - 60 and s in (200, 202))
    if not last:
        raise SystemExit("no delivery answered in the last minute")

    def pick(xs: list[float], q: float) -> float:
        return round(xs[min(len(xs) - 1, int(q * len(xs)))] * 1000, 2)

    steady = [s for s in samples if s["t"] >= 60] or samples
    max_keys = max(s["keys"] for s in steady)
    return {
        "deliveries": len(deliveries),
        "sent_in_s": round(sent_s, 1),
        "bad_statuses": len(bad),
        "max_keys_after_1min": max_keys,
        "max_kb_after_1min": max(s["kb"] for s in steady),
        "keys_first_vs_last_steady": [steady[0]["keys"], steady[-1]["keys"]],
        "intake_p50_ms_last_min": pick(last, 0.5),
        "intake_p99_ms_last_min": pick(last, 0.99),
        "failed_jobs": len(failed),
        "targets": {
            "keys_le_6000": max_keys <= 6000,
            "p99_le_25ms": pick(last, 0.99) <= 25,
            "no_failed_jobs": not failed,
        },
        "samples": samples,
    }


if __name__ == "__main__":
    main()

"""Polling cost: ``--images`` polled images on a real Distribution registry, through the product's
own periodic leader and rq worker, in this process, on the tests' Redis.

Starts Debian's ``docker-registry`` on loopback, pushes ``--images`` repositories of three tags
each through the registry's HTTP API (``LocalRegistry.put``: no skopeo, a few requests an image),
writes a routing config with one ``poll: 1m`` rule per image (targets spread over ``--repos``
manifest repos), then runs whole poll cycles: the leader's ticks take the due images and queue
``poll_images`` jobs (``POLL_BATCH`` images each), and a burst of the bot's rq worker runs exactly
those jobs (the reconciles they ask for are counted as asked, not run):

- ``cold``: the first cycle, everything new (merged, groups asked to reconcile);
- ``steady``: the next interval, nothing new;
- ``changed``: ``--changed`` images got a newer tag meanwhile.

Every Redis command the bot sends is counted in this process (a counting connection through
redis-py's public ``connection_class``: other clients of a shared Redis do not disturb it), and
every registry answer (a response hook on the client's session). Per cycle: registry requests
and Redis commands per polled image, wall time, and the commands of an idle leader tick. Then
one steady cycle under cProfile: the share of its time spent finding the rules of an image.

    .venv/bin/python bench/polling.py [--images 1000] [--repos 20] [--changed 100] [--idle 20]

Needs docker-registry and skopeo's package (``apt-get install docker-registry skopeo``) and Redis
at $MANIFEST_BOT_TEST_REDIS_URL or 127.0.0.1:6379; exits non-zero when it cannot measure. Last
line: JSON. Goals (issue 20): <= 1 registry request and <= 10 Redis commands per image per poll,
a 1,000-image cycle <= 10 s.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import requests  # noqa: E402

from bot.demo.registry import missing_tools  # noqa: E402
from bot.deps import Container  # noqa: E402
from bot.jobs import runtime  # noqa: E402
from bot.jobs.leader import Leader  # noqa: E402
from bot.jobs.worker import build_worker  # noqa: E402
from bot.registry import RegistryClient  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import namespace  # noqa: E402
from tests.doubles import Clock, CountedSession  # noqa: E402
from tests.redis_counting import Commands, counting_redis  # noqa: E402
from tests.registry.support import LocalRegistry, run_registry  # noqa: E402

REDIS_URL = os.environ.get("MANIFEST_BOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
INTERVAL_S = 60
TAGS = ("1.0.0", "1.1.0", "2.0.0")  # the rules allow ^1: each poll plans 1.1.0
POLL_FUNC = "poll_images"


class Failed(SystemExit):
    def __init__(self, why: str) -> None:
        super().__init__(f"bench/polling.py cannot measure: {why}")


def routing(images: list[str], repos: int) -> str:
    rules = "".join(
        f"  - {{name: app{n}, image: {image}, poll: {INTERVAL_S}s, policy: {{semver: '^1'}}, targets: "
        f"[{{forge: local, repo: deploy{n % repos}, environment: dev, files: [apps/app{n}.yaml]}}]}}\n"
        for n, image in enumerate(images)
    )
    return "forges: [{name: local, kind: local, path: /srv/git}]\nrules:\n" + rules


def push_all(registry: LocalRegistry, count: int) -> None:
    sessions: dict[int, requests.Session] = {}

    def put(n: int) -> None:
        session = sessions.setdefault(n % 8, requests.Session())
        registry.put(f"bench/app{n}", TAGS, session=session)

    registry.put("bench/app0", TAGS, session=requests.Session())  # seeds the shared config blob
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, range(1, count)))


class Bench:
    def __init__(self, container: Container, commands: Commands, answers: CountedSession) -> None:
        self.container = container
        self.commands = commands
        self.answers = answers
        self.leader: Leader = container.engine("bench").leader
        self.worker = build_worker(container, name=f"{container.settings.redis_prefix}-bench")

    def cycle(self, expected: int) -> dict[str, Any]:
        """One poll cycle: tick until nothing more is due, run the poll jobs queued, count."""
        queue = self.container.dispatch.queue
        mark, answered = len(self.commands), self.answers.count
        start = time.perf_counter()
        taken = ticks = 0
        while True:
            ticks += 1
            out = self.leader.tick(periodic=False)
            if out is None:
                raise Failed("the bench's leader did not lead")
            taken += out["polls"]
            if not out["polls"]:
                break
        jobs = [j for j in (queue.fetch_job(i) for i in queue.job_ids) if j is not None]
        polls = [j for j in jobs if j.func_name.endswith(POLL_FUNC)]
        if len(polls) != len(jobs):
            raise Failed(f"other jobs were queued before the poll jobs: {[j.func_name for j in jobs]}")
        self.worker.work(burst=True, max_jobs=len(polls), logging_level="WARNING")
        elapsed = time.perf_counter() - start
        sent = self.commands.since(mark)
        results = [queue.fetch_job(j.id) for j in polls]
        counts = [r.return_value() for r in results if r is not None]
        if taken != expected or len(counts) != len(polls) or any(x is None for x in counts):
            ran = f"{len(counts)}/{len(polls)}"
            raise Failed(f"{taken} images taken (wanted {expected}), {ran} poll jobs ran")
        polled = sum(x["images"] for x in counts)  # type: ignore[index]
        failed = sum(x["failed"] for x in counts)  # type: ignore[index]
        if polled != expected or failed:
            raise Failed(f"{polled} images polled of {expected}, {failed} failed")
        reconciles = self.reconciled()
        if not sent or self.answers.count == answered:
            raise Failed("no Redis command or registry request was counted")
        return {
            "images": polled,
            "ticks": ticks,
            "jobs": len(polls),
            "seconds": round(elapsed, 3),
            "registry_requests_per_image": round((self.answers.count - answered) / polled, 3),
            "redis_commands_per_image": round(len(sent) / polled, 3),
            "redis_commands": len(sent),
            "accepted": sum(x["accepted"] for x in counts),  # type: ignore[index]
            "unchanged": sum(x["unchanged"] for x in counts),  # type: ignore[index]
            "reconciles_asked": reconciles,
            "top_commands": dict(sorted(self.commands.by_name(mark).items(), key=lambda kv: -kv[1])[:8]),
        }

    def reconciled(self) -> int:
        """The reconciles the poll jobs asked for, done as a reconcile would leave them (no forge
        here): the marker cleared, the group applied, its safety-net entry gone; how many."""
        c, queue = self.container, self.container.dispatch.queue
        jobs = [j for j in (queue.fetch_job(i) for i in queue.job_ids) if j is not None]
        for job in jobs:
            group = str(job.kwargs["group_key"])
            c.dispatch.clear_marker(group)
            c.intents.mark_applied(group, c.intents.snapshot(group).generation)
            c.dispatch.reconciled(group, started_at=c.clock())
        queue.empty()
        return len(jobs)

    def idle(self, ticks: int) -> float:
        mark = len(self.commands)
        for _ in range(ticks):
            out = self.leader.tick(periodic=False)
            if out is None or any(out.values()):
                raise Failed(f"an idle tick found work: {out}")
        return (len(self.commands) - mark) / ticks


def rule_lookup_share(bench: Bench, expected: int) -> dict[str, float]:
    """One steady cycle under cProfile: the share of its time in finding an image's rules."""
    profile = cProfile.Profile()
    profile.enable()
    bench.cycle(expected)
    profile.disable()
    stats = pstats.Stats(profile)
    total = max(stats.total_tt, 1e-9)  # type: ignore[attr-defined]
    lookup = matches = 0.0
    for (file, _, func), row in stats.stats.items():  # type: ignore[attr-defined]
        if file.endswith("rule_index.py") and func == "matching":
            lookup += row[3]
        if func == "matches_image":
            matches += row[3]
    return {"rule_lookup_share": round(lookup / total, 4), "matches_image_share": round(matches / total, 4)}


def run(args: argparse.Namespace, registry: LocalRegistry, workdir: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    push_all(registry, args.images)
    pushed_s = time.perf_counter() - t0
    images = [registry.image(f"bench/app{n}") for n in range(args.images)]
    config_path = workdir / "routing.yaml"
    config_path.write_text(routing(images, args.repos))
    prefix = f"mbbench{uuid.uuid4().hex[:8]}"
    values = {"redis_url": REDIS_URL, "redis_prefix": prefix, "redis_require_aof": False}
    settings = Settings.model_validate({**values, "config_path": config_path})
    conn, commands = counting_redis(REDIS_URL)
    clock = Clock(time.time())
    container = Container(settings, clock=clock)
    container.__dict__["redis"] = conn
    answers = CountedSession()
    client = RegistryClient(session=answers.session, cache_ttl=settings.registry_cache_ttl_s)
    container.__dict__["registry"] = client
    runtime.install(container)
    try:
        bench = Bench(container, commands, answers)
        cold = bench.cycle(args.images)
        clock.now += INTERVAL_S
        steady = bench.cycle(args.images)
        idle = bench.idle(args.idle)
        pusher = requests.Session()
        for n in range(args.changed):
            registry.put(f"bench/app{n}", ["1.2.0"], session=pusher)
        clock.now += INTERVAL_S
        changed = bench.cycle(args.images)
        if changed["unchanged"] != args.images - args.changed:
            raise Failed(f"the changed cycle found {args.images - changed['unchanged']} changed images")
        clock.now += INTERVAL_S
        profiled = rule_lookup_share(bench, args.images)
    finally:
        runtime.install(None)
        namespace.drop(redis.Redis.from_url(REDIS_URL), prefix)
    return {
        "images": args.images,
        "repos": args.repos,
        "push_s": round(pushed_s, 2),
        "cold": cold,
        "steady": steady,
        "changed": changed,
        "idle_commands_per_tick": idle,
        **profiled,
        "registry_requests_per_image": max(c["registry_requests_per_image"] for c in (cold, steady, changed)),
        "redis_commands_per_image": max(c["redis_commands_per_image"] for c in (cold, steady, changed)),
        "cycle_s": max(c["seconds"] for c in (cold, steady, changed)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--changed", type=int, default=100)
    parser.add_argument("--idle", type=int, default=20)
    args = parser.parse_args()
    if not 0 < args.changed <= args.images or args.repos < 1 or args.idle < 1:
        parser.error("need 0 < --changed <= --images, --repos >= 1, --idle >= 1")
    missing = missing_tools()
    if missing:
        raise Failed(f"{', '.join(missing)} not installed: apt-get install docker-registry skopeo")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        raise Failed(f"no Redis at {REDIS_URL}: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="mb-bench-polling-") as tmp:
        workdir = Path(tmp)
        with run_registry(workdir / "registry") as registry:
            result = run(args, registry, workdir)
    for name in ("cold", "steady", "changed"):
        c = result[name]
        print(
            f"{name}: {c['images']} images in {c['seconds']} s ({c['jobs']} jobs, {c['ticks']} ticks), "
            f"{c['registry_requests_per_image']} registry requests and {c['redis_commands_per_image']} "
            f"Redis commands per image; {c['accepted']} accepted, {c['reconciles_asked']} reconciles asked"
        )
    print(
        f"idle tick: {result['idle_commands_per_tick']} Redis commands; finding rules: "
        f"{result['rule_lookup_share']:.1%} of a steady cycle "
        f"(matches_image {result['matches_image_share']:.1%})"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()

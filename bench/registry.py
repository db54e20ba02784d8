"""Registry requests per planned event, per poll, and resolve latency against a real registry.

Starts Debian's ``docker-registry`` (CNCF Distribution) on loopback, configured for token auth
(a token issuer answering like Docker Hub's), pushes ``--images`` repositories of ``--tags`` tags
with skopeo, then counts every HTTP request the client makes (token requests included):

- ``requests_per_event_cold``: a fresh client resolves one tag (challenge 401 + token + HEAD);
- ``requests_per_event_warm``: tags not resolved yet, token cached (one HEAD each);
- ``requests_per_event_repeat``: the same (image, tag) again within the cache TTL;
- ``poll_requests_per_image``: listing every tag of an image with a warm token;
- ``resolve_p50_ms`` / ``resolve_p95_ms``: a warm resolve that skips the digest cache (``fresh``);
- ``planned_requests_per_event_cold`` / ``_warm``: the same through the real planning path — a CI-like
  push without a digest, planned for three environments pinned ``tag+digest`` and admitted by the
  registry gate (``bot.services.registry_gate``: one lookup per image and tag, whatever the targets;
  its waiting store on the tests' Redis, ``bench/_redis.py``).

    .venv/bin/python bench/registry.py [--images 3] [--tags 10] [--resolves 200]

Last line: JSON with those keys. Goals: warm <= 1, cold <= 3.
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

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._redis import connect  # noqa: E402
from bot.core.config import load_config  # noqa: E402
from bot.core.events import ImagePushed  # noqa: E402
from bot.core.planning import plan  # noqa: E402
from bot.demo.registry import missing_tools  # noqa: E402
from bot.registry import RegistryClient  # noqa: E402
from bot.services.registry_gate import RegistryGate  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import namespace  # noqa: E402
from bot.store.waiting import WaitingStore  # noqa: E402
from tests.registry.support import TokenIssuer, run_registry  # noqa: E402

ENVIRONMENTS = ("dev", "staging", "prod")


class Counter:
    def __init__(self) -> None:
        self.session = requests.Session()
        self.count = 0
        self.session.hooks["response"].append(self._hook)

    def _hook(self, resp: requests.Response, *args: object, **kwargs: object) -> None:
        self.count += 1

    def client(self) -> RegistryClient:
        return RegistryClient(session=self.session, cache_ttl=300)


def routing(images: list[str]) -> str:
    targets = ", ".join(  # each environment its own files: discovery never crosses environments
        f"{{forge: local, repo: deploy, environment: {env}, files: [envs/{env}/app.yaml]}}"
        for env in ENVIRONMENTS
    )
    rules = "".join(
        f"  - {{name: app{i}, image: {image}, policy: {{pin: tag+digest}}, targets: [{targets}]}}\n"
        for i, image in enumerate(images)
    )
    return "forges: [{name: local, kind: local, path: /srv/git}]\nrules:\n" + rules


def planned(images: list[str], tags: list[str], conn: redis.Redis, prefix: str) -> dict[str, float]:
    """Registry requests per event through planning and the registry gate (CI events carry no digest)."""
    config = load_config(routing(images), "bench.yaml")
    store = WaitingStore(conn, Settings(redis_prefix=prefix))  # written only when a tag is missing

    def admit(counter: Counter, gate: RegistryGate, image: str, tag: str) -> int:
        before = counter.count
        intents = plan(ImagePushed(image=image, tag=tag, digest=None, source="generic"), config).intents
        out = gate.admit(list(intents))
        assert len(out.ready) == len(ENVIRONMENTS) and all(i.digest for i in out.ready), out
        return counter.count - before

    def fresh() -> tuple[Counter, RegistryGate]:  # a process that never talked to the registry
        counter = Counter()
        return counter, RegistryGate(counter.client(), store, wait_s=60, retry_s=5)

    cold = [admit(*fresh(), image, tags[0]) for image in images]
    counter, gate = fresh()
    for image in images:
        admit(counter, gate, image, tags[0])
    warm = [admit(counter, gate, image, tag) for image in images for tag in tags[1:]]
    return {
        "planned_requests_per_event_cold": round(statistics.mean(cold), 3),
        "planned_requests_per_event_warm": round(statistics.mean(warm), 3),
    }


def measure(images: list[str], tags: list[str], resolves: int) -> dict[str, float]:
    cold = []
    for image in images:  # a process that never talked to the registry
        counter = Counter()
        assert counter.client().resolve(image, tags[0]) is not None
        cold.append(counter.count)

    counter = Counter()
    client = counter.client()
    for image in images:
        client.resolve(image, tags[0])
    start = counter.count
    for image in images:
        for tag in tags[1:]:
            assert client.resolve(image, tag) is not None
    warm_events = len(images) * (len(tags) - 1)
    warm = (counter.count - start) / warm_events

    start = counter.count
    for image in images:
        client.resolve(image, tags[-1])
    repeat = (counter.count - start) / len(images)

    start = counter.count
    for image in images:
        assert len(client.list_tags(image)) == len(tags)
    poll = (counter.count - start) / len(images)

    timings = []
    for i in range(resolves):
        image, tag = images[i % len(images)], tags[i % len(tags)]
        t0 = time.perf_counter()
        client.resolve(image, tag, fresh=True)
        timings.append((time.perf_counter() - t0) * 1000)
    timings.sort()
    return {
        "requests_per_event_warm": round(warm, 3),
        "requests_per_event_cold": round(statistics.mean(cold), 3),
        "requests_per_event_repeat": round(repeat, 3),
        "poll_requests_per_image": round(poll, 3),
        "resolve_p50_ms": round(timings[len(timings) // 2], 2),
        "resolve_p95_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.95))], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--tags", type=int, default=10)
    parser.add_argument("--resolves", type=int, default=200)
    args = parser.parse_args()
    missing = missing_tools()
    if missing:
        sys.exit(f"{', '.join(missing)} not installed: apt-get install docker-registry skopeo")
    conn, prefix = connect(), f"mbbench{uuid.uuid4().hex[:8]}"  # the registry gate's waiting store
    with tempfile.TemporaryDirectory(prefix="mb-bench-registry-") as tmp:
        workdir = Path(tmp)
        issuer = TokenIssuer(workdir)
        with issuer.serving(), run_registry(workdir / "registry", token=issuer) as registry:
            tags = [f"1.{i}.0" for i in range(args.tags)]
            images = [registry.image(f"bench/app{i}") for i in range(args.images)]
            for i in range(args.images):
                for tag in tags:
                    registry.push(f"bench/app{i}", tag)
            try:
                result = measure(images, tags, args.resolves) | planned(images, tags, conn, prefix)
            finally:
                namespace.drop(conn, prefix)
    print(
        f"registry: cold {result['requests_per_event_cold']} requests/event, warm "
        f"{result['requests_per_event_warm']}, repeat {result['requests_per_event_repeat']}, poll "
        f"{result['poll_requests_per_image']}/image, resolve p50 {result['resolve_p50_ms']} ms; "
        f"through planning ({len(ENVIRONMENTS)} targets an event): cold "
        f"{result['planned_requests_per_event_cold']}, warm {result['planned_requests_per_event_warm']}"
    )
    print(json.dumps({**result, "images": args.images, "tags": args.tags}))


if __name__ == "__main__":
    main()

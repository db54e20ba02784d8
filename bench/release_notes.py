"""Forge and registry requests the PR body's release notes cost, per image version, cold and cached.

Starts Debian's ``docker-registry`` (CNCF Distribution) on loopback and pushes ``--images``
images at two versions each with skopeo, their configs labelled as a CI build labels them
(``org.opencontainers.image.source`` naming a repository of the demo's GitHub Enterprise,
``bot.demo.releases``, ``.revision``, ``.version``). Half the versions have a release tagged
``v<version>`` (the worst case: ``<version>`` is asked first), the other half none at all. Then
``bot.services.release_notes.ReleaseNotes`` (the GitHub adapter over PyGithub, the registry
client, the cache on the tests' Redis: ``bench/_redis.py``) collects the notes of a PR changing
every image:

- ``forge_requests_per_version_cold`` / ``_max``: the mean and the most any version cost (goal ≤ 2);
- ``forge_requests_cached``: the same PR again from fresh clients, on the same Redis (goal 0);
- ``registry_requests_per_image_cold`` / ``registry_requests_cached``: the registry's side
  (manifest + config blob of the new and the old version, cold);
- ``cold_ms`` / ``cached_ms``: how long collecting took.

    .venv/bin/python bench/release_notes.py [--images 6]

Last line: JSON with those keys and ``target_met``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._redis import connect  # noqa: E402
from bot.core.intents import UpdateIntent  # noqa: E402
from bot.core.ports import ForgeInfo  # noqa: E402
from bot.core.render import Row  # noqa: E402
from bot.demo.registry import missing_tools  # noqa: E402
from bot.demo.releases import PublishedRelease, ReleasesServer  # noqa: E402
from bot.forges.github.adapter import GitHubForge  # noqa: E402
from bot.forges.github.clients import TokenCredentials  # noqa: E402
from bot.registry import RegistryClient  # noqa: E402
from bot.services.release_notes import ReleaseNotes  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import namespace  # noqa: E402
from bot.store.release_notes import NotesCache  # noqa: E402
from tests.registry.support import LocalRegistry, run_registry  # noqa: E402

TOKEN = "bench-token"
OLD, NEW = "1.0.0", "1.1.0"


class Counted:
    """A registry client whose HTTP responses are counted."""

    def __init__(self, host: str) -> None:
        self.count = 0
        session = requests.Session()
        session.hooks["response"].append(self._hook)
        self.client = RegistryClient(session=session, insecure=frozenset({host}))

    def _hook(self, resp: requests.Response, *args: object, **kwargs: object) -> None:
        self.count += 1


def _push(registry: LocalRegistry, server: ReleasesServer, images: int) -> list[str]:
    names = []
    for i in range(images):
        repository = f"acme/app{i}"
        for tag, rev in ((OLD, "a"), (NEW, "b")):
            labels = {
                "org.opencontainers.image.source": server.source(repository),
                "org.opencontainers.image.revision": rev * 40,
                "org.opencontainers.image.version": tag,
            }
            registry.push(repository, tag, labels=labels)
        names.append(registry.image(repository))
    return names


def _intent(image: str) -> UpdateIntent:
    return UpdateIntent("local", "deploy", "main", "apps", "dev", (), image, NEW, None, "semver", (1, 1, 0))


def _collect(
    registry: LocalRegistry, server: ReleasesServer, images: list[str], cache: NotesCache
) -> tuple[int, int, float, int]:
    """(forge requests, registry requests, ms, notes with a release) for one PR of every image."""
    counted = Counted(registry.host)
    forge = GitHubForge(ForgeInfo("ghe", "github"), TokenCredentials(TOKEN), api_url=server.api)
    notes = ReleaseNotes(counted.client, lambda: [forge], cache)
    rows = [Row("app.yaml", image, f"{image}:{OLD}", f"{image}:{NEW}") for image in images]
    before = len(server.requests)
    started = time.perf_counter()
    collected = notes([_intent(image) for image in images], rows)
    elapsed = (time.perf_counter() - started) * 1000
    with_release = sum(1 for n in collected.notes if n.release is not None)
    return len(server.requests) - before, counted.count, elapsed, with_release


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=6)
    args = parser.parse_args()
    missing = missing_tools()
    if missing:
        raise SystemExit(f"{', '.join(missing)} not installed: apt-get install docker-registry skopeo")
    conn = connect()
    prefix = f"bench-notes-{uuid.uuid4().hex[:8]}"
    cache = NotesCache(conn, Settings(redis_prefix=prefix))
    releases = [
        PublishedRelease(f"acme/app{i}", f"v{NEW}", f"app{i} {NEW}", f"- change {i}\n")
        for i in range(0, args.images, 2)
    ]
    server = ReleasesServer(TOKEN, releases)
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            server.serving(),
            run_registry(Path(tmp) / "registry") as registry,
        ):
            images = _push(registry, server, args.images)
            per_version = []
            for image in images:  # each version alone, for the most one version costs
                asked, _, _, _ = _collect(
                    registry, server, [image], NotesCache(conn, Settings(redis_prefix=f"{prefix}-one"))
                )
                per_version.append(asked)
            forge_cold, registry_cold, cold_ms, found = _collect(registry, server, images, cache)
            forge_cached, registry_cached, cached_ms, found_again = _collect(registry, server, images, cache)
    finally:
        namespace.drop(conn, prefix)
        namespace.drop(conn, f"{prefix}-one")
    result = {
        "images": args.images,
        "notes_with_release": found,
        "forge_requests_per_version_cold": round(forge_cold / args.images, 2),
        "forge_requests_per_version_max": max(per_version),
        "forge_requests_cached": forge_cached,
        "registry_requests_per_image_cold": round(registry_cold / args.images, 2),
        "registry_requests_cached": registry_cached,
        "cold_ms": round(cold_ms, 1),
        "cached_ms": round(cached_ms, 1),
        "target_met": max(per_version) <= 2 and forge_cached == 0 and found_again == found,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

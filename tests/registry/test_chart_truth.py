"""Registry truth for charts (issue 24 item 3), on real pieces: a Helm repository served over HTTP
on loopback (its ``index.yaml`` with an ``ETag``, counting what it is asked), a CNCF Distribution
registry holding OCI charts, real Redis behind the registry gate, and intents the real planner made.

- a classic chart's versions come from its index, re-asked by a conditional GET (a ``304``, no
  parsing) until something is published; an index over the size bound is refused, named;
- a chart version not published waits like an image tag and is admitted once the index lists it;
- an OCI chart's tag counts only when its manifest's config is Helm's; an image under a chart
  rule's name is refused for good, not waited for;
- polling lists a classic chart's versions from its index and an OCI chart's from its registry.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import redis
import requests

from bot.core.config import Config, load_config
from bot.core.events import ImagePushed
from bot.core.intents import UpdateIntent
from bot.core.planning import plan
from bot.errors import ValidationFailed
from bot.registry import RegistryClient
from bot.registry.artifacts import Artifacts
from bot.registry.helm_repo import HelmRepositories
from bot.services.poll import poll_images
from bot.services.registry_gate import NOT_THERE, RegistryGate
from bot.settings import Settings
from bot.store.intents import IntentStore
from bot.store.polls import PollStore
from bot.store.waiting import WaitingStore
from tests.doubles import Clock
from tests.registry.fixtures import local_registry
from tests.registry.support import LocalRegistry

__all__ = ["local_registry"]
DEV = "local:deploy:main:dev"


def index_yaml(versions: list[str], chart: str = "podinfo") -> bytes:
    entries = "".join(
        f"  - apiVersion: v2\n    name: {chart}\n    version: {v}\n"
        f"    digest: {i:064x}\n    urls: [https://example.com/{chart}-{v}.tgz]\n"
        f"    sources:\n      - https://github.com/acme/{chart}\n      - https://example.com/mirror\n"
        for i, v in enumerate(versions)
    )
    return f"apiVersion: v1\nentries:\n  {chart}:\n{entries}generated: '2024-05-02T10:00:00Z'\n".encode()


@dataclass
class HelmRepo:
    """``GET /charts/index.yaml`` with an ETag per content; what it answered, in order."""

    versions: list[str]
    answers: list[int] = field(default_factory=list)
    url: str = ""

    @property
    def etag(self) -> str:
        return f'"{len(self.versions)}-{"-".join(self.versions)}"'


@pytest.fixture
def helm_repo() -> Iterator[HelmRepo]:
    repo = HelmRepo(["6.5.0"])

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/charts/index.yaml":
                self._answer(404, b"")
            elif self.headers.get("If-None-Match") == repo.etag:
                self._answer(304, b"")
            else:
                self._answer(200, index_yaml(repo.versions))

        def _answer(self, status: int, body: bytes) -> None:
            repo.answers.append(status)
            self.send_response(status)
            self.send_header("ETag", repo.etag)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    repo.url = f"http://127.0.0.1:{server.server_address[1]}/charts"
    try:
        yield repo
    finally:
        server.shutdown()
        server.server_close()


def artifacts(clock: Clock, *, max_bytes: int = 1024 * 1024, ttl: float = 30.0) -> Artifacts:
    images = RegistryClient(cache_ttl=0)
    return Artifacts(
        images, HelmRepositories(images.session, max_bytes=max_bytes, cache_ttl=ttl, clock=clock)
    )


def routing(chart: str, extra: str = "") -> Config:
    return load_config(
        "forges: [{name: local, kind: local, path: /srv/git}]\n"
        f"rules:\n  - name: chart\n    {chart}\n{extra}"
        "    targets: [{forge: local, repo: deploy, environment: dev, files: [release.yaml]}]\n",
        "bot.yaml",
    )


def pushed(config: Config, tag: str) -> list[UpdateIntent]:
    key = config.rules[0].chart_key
    assert key is not None
    return list(plan(ImagePushed(image=key, tag=tag, digest=None, source="poll"), config).intents)


@pytest.fixture
def store(settings: Settings, redis_conn: redis.Redis) -> WaitingStore:
    return WaitingStore(redis_conn, settings)


def test_a_helm_index_is_asked_again_by_conditional_get_and_parsed_only_when_it_changed(
    helm_repo: HelmRepo,
) -> None:
    clock = Clock()
    registry = artifacts(clock)
    key = f"{helm_repo.url}/podinfo"
    assert registry.list_tags(key) == ("6.5.0",)
    assert registry.list_tags(key) == ("6.5.0",)  # within the cache TTL: not asked
    clock.now += 31
    assert registry.list_tags(key) == ("6.5.0",)  # asked again: 304, nothing parsed
    helm_repo.versions.append("6.5.1")
    found = registry.resolve(key, "6.5.1", fresh=True)
    assert found is not None and (found.image, found.tag) == (key, "6.5.1")
    assert found.digest == "sha256:" + f"{1:064x}"  # the index's digest of the archive
    assert helm_repo.answers == [200, 304, 200]
    assert registry.helm.fetches == 2


def test_an_index_over_the_size_bound_is_refused_with_the_bound_named(
    helm_repo: HelmRepo, store: WaitingStore
) -> None:
    helm_repo.versions = [f"1.0.{n}" for n in range(200)]
    registry = artifacts(Clock(), max_bytes=4096)
    bound = r"larger than 4096 bytes \(MANIFEST_BOT_HELM_INDEX_MAX_BYTES\)"
    with pytest.raises(ValidationFailed, match=bound):
        registry.list_tags(f"{helm_repo.url}/podinfo")
    config = routing(f"chart: podinfo\n    repository: {helm_repo.url}")
    out = RegistryGate(registry, store, wait_s=600, retry_s=5).admit(pushed(config, "1.0.3"))
    (failure,) = out.failures  # not waited for: the group says why, once
    assert (out.ready, out.waiting, failure.group_key) == ([], 0, DEV)
    assert f"cannot verify {helm_repo.url}/podinfo:1.0.3" in failure.error.message
    assert "MANIFEST_BOT_HELM_INDEX_MAX_BYTES" in failure.error.message


def test_a_chart_version_not_published_waits_and_is_admitted_once_the_index_lists_it(
    helm_repo: HelmRepo, store: WaitingStore
) -> None:
    clock = Clock()
    config = routing(f"chart: podinfo\n    repository: {helm_repo.url}")
    gate = RegistryGate(artifacts(clock), store, wait_s=600, retry_s=5, clock=clock)

    first = gate.admit(pushed(config, "6.6.0"))
    assert first.ready == [] and first.waiting == 1
    (entry,) = store.entries(DEV)
    assert (entry.intent.image, entry.registry, entry.reason) == (
        f"{helm_repo.url}/podinfo",
        helm_repo.url.split("/")[2],
        NOT_THERE,
    )
    helm_repo.versions.append("6.6.0")
    clock.now += 5
    later = gate.retry(DEV)
    assert [(i.tag, i.digest) for i in later.ready] == [("6.6.0", "sha256:" + f"{1:064x}")]
    assert store.entries(DEV) == []


def test_an_oci_chart_counts_only_when_its_config_is_helms(
    local_registry: LocalRegistry, store: WaitingStore
) -> None:
    with requests.Session() as session:
        digest = local_registry.put_chart("charts/podinfo", "6.5.1", session=session)
        local_registry.put("charts/image", ["1.0.0"], session=session)  # an image, not a chart
    clock = Clock()
    gate = RegistryGate(artifacts(clock), store, wait_s=600, retry_s=5, clock=clock)

    chart = routing(f"chart: oci://{local_registry.host}/charts/podinfo")
    ok = gate.admit(pushed(chart, "6.5.1"))
    assert [(i.image, i.tag, i.digest) for i in ok.ready] == [
        (f"oci://{local_registry.host}/charts/podinfo", "6.5.1", digest)
    ]
    missing = gate.admit(pushed(chart, "6.6.0"))
    assert (missing.ready, missing.waiting) == ([], 1)  # not pushed yet: waits like an image tag

    image = routing(f"chart: oci://{local_registry.host}/charts/image")
    refused = gate.admit(pushed(image, "1.0.0"))
    (failure,) = refused.failures
    assert refused.ready == [] and refused.waiting == 0
    assert f"{local_registry.host}/charts/image:1.0.0 is not a Helm chart" in failure.error.message
    assert "application/vnd.oci.image.config.v1+json" in failure.error.message


def test_a_charts_sources_stand_in_for_an_images_labels_for_release_notes(
    local_registry: LocalRegistry, helm_repo: HelmRepo
) -> None:
    with requests.Session() as session:
        local_registry.put_chart(
            "charts/podinfo", "6.5.1", session=session, sources=["https://github.com/acme/podinfo"]
        )
    found = artifacts(Clock()).image_config(f"oci://{local_registry.host}/charts/podinfo", "6.5.1")
    assert found is not None
    assert (found.source, found.version) == ("https://github.com/acme/podinfo", "6.5.1")
    classic = artifacts(Clock())
    listed = classic.image_config(f"{helm_repo.url}/podinfo", "6.5.0")  # its index entry's sources
    assert listed is not None and (listed.source, listed.version) == (
        "https://github.com/acme/podinfo",
        "6.5.0",
    )
    assert classic.image_config(f"{helm_repo.url}/podinfo", "9.9.9") is None  # not published


def test_polling_lists_a_classic_charts_index_and_an_oci_charts_tags(
    helm_repo: HelmRepo,
    local_registry: LocalRegistry,
    settings: Settings,
    redis_conn: redis.Redis,
) -> None:
    helm_repo.versions += ["6.5.3", "6.6.0-rc.1", "7.0.0"]
    with requests.Session() as session:
        for version in ("6.5.0", "6.5.2"):
            local_registry.put_chart("charts/podinfo", version, session=session)
    config = load_config(
        "forges: [{name: local, kind: local, path: /srv/git}]\n"
        "rules:\n"
        f"  - {{name: classic, chart: podinfo, repository: {helm_repo.url}, poll: 5m,"
        " policy: {semver: '^6.0.0'},"
        " targets: [{forge: local, repo: deploy, environment: dev, files: [classic.yaml]}]}\n"
        f"  - {{name: oci, chart: 'oci://{local_registry.host}/charts/podinfo', poll: 5m,"
        " targets: [{forge: local, repo: deploy, environment: dev, files: [oci.yaml]}]}\n",
        "bot.yaml",
    )
    registry = artifacts(Clock())
    gate = RegistryGate(registry, WaitingStore(redis_conn, settings), wait_s=60, retry_s=5)
    names = sorted(config.poll_intervals())
    batch = poll_images(
        names,
        config=config,
        registry=registry,
        gate=gate,
        intents=IntentStore(redis_conn, settings),
        polls=PollStore(redis_conn, settings),
        now=1_700_000_000.0,
    )
    assert batch.failures == []
    assert {p.image: p.chosen for p in batch.polls} == {
        f"{helm_repo.url}/podinfo": ("6.5.3",),
        f"oci://{local_registry.host}/charts/podinfo": ("6.5.2",),
    }
    assert batch.groups == [DEV]

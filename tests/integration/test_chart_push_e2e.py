"""Issue 24's done-when for charts, on real pieces: the web app on a real port, a ``manifest-bot
worker`` process, Redis, a local git manifest repo and a CNCF Distribution registry
(docker-registry) holding the OCI chart, pushed by the test over the registry's HTTP API as Helm
pushes it (a manifest whose config is ``application/vnd.cncf.helm.config.v1+json``) and notifying
the bot itself.

A chart rule discovering its files bumps a HelmRelease, an OCIRepository, an Argo CD Application,
a Chart.yaml dependency and a Kustomize helmCharts entry, each byte-exactly; the image of the
same name in the same files, another chart of the same name in another registry and an image
pushed under the chart's name stay as they are.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import requests
from pydantic import SecretStr

from bot.demo.runtime import web_server
from bot.deps import Container
from bot.forges.local.adapter import LocalGitForge
from bot.settings import Settings
from tests.integration.world import Workers, git, wait_for, worker_env
from tests.registry.fixtures import require_tools
from tests.registry.support import run_registry

pytestmark = pytest.mark.slow
REPO = "deploy"
TOKEN = "dist-token"
POLL_S = 2.0

# one file per shape; ``{host}`` is the registry's; every ``6.5.0`` of a chart becomes ``6.5.1``
FILES = {
    "flux/helmrelease.yaml": """\
# podinfo from the OCI HelmRepository in flux-system
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: podinfo
spec:
  chart:
    spec:
      chart: podinfo
      version: "6.5.0"   # pinned
      sourceRef: {kind: HelmRepository, name: podinfo}
  values:
    image:
      repository: {host}/charts/podinfo
      tag: 6.5.0   # an image of the same name: not the chart
""",
    "flux/ocirepository.yaml": """\
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: podinfo
spec:
  url: oci://{host}/charts/podinfo
  ref:
    tag: '6.5.0'
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: podinfo-mirror
spec:
  url: oci://ghcr.io/elsewhere/podinfo   # another registry's podinfo: not this chart
  ref:
    tag: 6.5.0
""",
    "argocd/app.yaml": """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: podinfo
spec:
  source:
    repoURL: {host}/charts
    chart: podinfo
    targetRevision: 6.5.0 # chart version
  destination: {server: "https://kubernetes.default.svc", namespace: podinfo}
""",
    "charts/shop/Chart.yaml": """\
apiVersion: v2
name: shop
version: 1.4.0
dependencies:\r
  - name: podinfo\r
    version: 6.5.0\r
    repository: oci://{host}/charts\r
""",
    "kustomize/kustomization.yaml": """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
helmCharts:
- name: podinfo
  repo: oci://{host}/charts
  version: 6.5.0
  releaseName: web
- {name: podinfo, repo: https://stefanprodan.github.io/podinfo, version: 6.5.0, releaseName: classic}
""",
}
#: the lines a push of 6.5.1 changes, per file (everything else stays byte for byte)
CHANGED = {
    "flux/helmrelease.yaml": ('      version: "6.5.0"', '      version: "6.5.1"'),
    "flux/ocirepository.yaml": ("    tag: '6.5.0'", "    tag: '6.5.1'"),
    "argocd/app.yaml": ("    targetRevision: 6.5.0 #", "    targetRevision: 6.5.1 #"),
    "charts/shop/Chart.yaml": ("    version: 6.5.0\r", "    version: 6.5.1\r"),
    "kustomize/kustomization.yaml": ("  version: 6.5.0\n", "  version: 6.5.1\n"),
}


def write_world(root: Path, config: Path, host: str, rule: str) -> dict[str, str]:
    repo = root / "git" / REPO
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "seed")
    git(repo, "config", "user.email", "seed@example.com")
    written = {}
    for path, text in FILES.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        written[path] = text.replace("{host}", host)
        (repo / path).write_bytes(written[path].encode())
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "seed")
    config.write_text(
        f"forges: [{{name: local, kind: local, path: {root / 'git'}}}]\n"
        "rules:\n"
        "  - name: podinfo-chart\n"
        f"    chart: oci://{host}/charts/podinfo\n{rule}"
        f"    targets: [{{forge: local, repo: {REPO}, environment: dev,"
        " discover: {include: ['**/*.yaml']}}]\n"
    )
    return written


def branch_files(root: Path) -> dict[str, bytes] | None:
    """Every seeded file on the bot's branch, once its PR is open."""
    forge = LocalGitForge(root / "git")
    prs = [p for p in forge.list_prs(REPO) if p.state == "open"]
    if not prs:
        return None
    repo = root / "git" / REPO
    show = ["git", "show"]
    return {
        path: subprocess.run(
            [*show, f"{prs[0].head_branch}:{path}"], cwd=repo, check=True, capture_output=True
        ).stdout
        for path in FILES
    }


def expected_after(written: dict[str, str]) -> dict[str, bytes]:
    out = {}
    for path, text in written.items():
        old, new = CHANGED[path]
        assert text.count(old) == 1, (path, old)
        out[path] = text.replace(old, new).encode()
    return out


@pytest.fixture
def service(
    tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> Iterator[tuple[Settings, str]]:
    require_tools()
    settings = make_settings(
        config_path=tmp_path / "routing.yaml",
        webhook_secrets={"distribution": (SecretStr(TOKEN),)},
        registry_retry_s=0.5,
        registry_wait_s=120,
    )
    web = Container(settings)
    web.__dict__["redis"] = redis_conn
    with web_server(web) as base_url:
        yield settings, base_url


def start_worker(settings: Settings, root: Path, **env: str) -> Workers:
    workers = Workers(worker_env(settings, env), root)
    workers.start(1)
    return workers


def test_a_chart_push_notified_by_the_registry_bumps_every_shape_byte_exactly(
    service: tuple[Settings, str], tmp_path: Path
) -> None:
    settings, base_url = service
    notify = f"{base_url}/webhooks/distribution"
    headers = {"X-Manifest-Bot-Token": TOKEN}
    with run_registry(tmp_path / "registry", notify_url=notify, notify_headers=headers) as registry:
        assert settings.config_path is not None
        written = write_world(tmp_path, settings.config_path, registry.host, "")
        workers = start_worker(settings, tmp_path)
        try:
            with requests.Session() as session:
                registry.put_chart("charts/podinfo", "6.5.1", session=session)  # it notifies the bot

            want = expected_after(written)
            wait_for(
                lambda: branch_files(tmp_path) == want,
                60,
                "the PR bumping every chart reference",
                workers.logs,
            )
        finally:
            workers.stop()


def test_a_lost_chart_notification_is_caught_by_polling(
    service: tuple[Settings, str], tmp_path: Path
) -> None:
    """Nobody notifies: the rule's poll lists the chart's tags and opens the PR within one interval."""
    settings, _ = service
    with run_registry(tmp_path / "registry") as registry:
        assert settings.config_path is not None
        written = write_world(tmp_path, settings.config_path, registry.host, "    poll: 1m\n")
        with requests.Session() as session:
            registry.put_chart("charts/podinfo", "6.5.0", session=session)
        workers = start_worker(settings, tmp_path, MANIFEST_BOT_POLL_INTERVAL_S=str(POLL_S))
        try:
            with requests.Session() as session:
                registry.put_chart("charts/podinfo", "6.5.1", session=session)
            pushed = time.monotonic()
            want = expected_after(written)
            wait_for(
                lambda: branch_files(tmp_path) == want, POLL_S + 30, "polling to open the PR", workers.logs
            )
            print(f"caught by polling {time.monotonic() - pushed:.1f} s after the push")
        finally:
            workers.stop()

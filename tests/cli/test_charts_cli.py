"""`manifest-bot scan` and `bump --chart NAME --version V` on chart references: rows, diffs, exit
codes, refusals that leave the file alone, and what `kubectl kustomize` reads from an edited
`helmCharts` entry."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import main

CASES = Path(__file__).resolve().parents[1] / "fixtures" / "manifests"


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def _copy(tmp_path: Path, case: str, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes((CASES / case / "original.yaml").read_bytes())
    return path


def test_scan_json_lists_a_chart_with_its_own_keys(tmp_path: Path) -> None:
    hr = _copy(tmp_path, "chart-helmrelease-version", "hr.yaml")
    rows = json.loads(run("scan", str(hr), "--json").stdout)
    assert rows[0] == {
        "file": str(hr),
        "line": 12,
        "column": 16,
        "doc": 0,
        "path": "spec.chart.spec.version",
        "kind": "helmrelease-chart",
        "chart": "podinfo",
        "version": "6.5.0",
    }
    assert (
        rows[1]["kind"] == "helm" and rows[1]["image"] == "ghcr.io/stefanprodan/podinfo"
    )  # images as before


def test_scan_text_names_kind_chart_and_version(tmp_path: Path) -> None:
    oci = _copy(tmp_path, "chart-ocirepository-tag", "oci.yaml")
    assert run("scan", str(oci)).stdout.splitlines() == [
        f"{oci}:13:10  doc=0  ocirepository-chart  spec.ref.tag  "
        "oci://ghcr.io/stefanprodan/charts/podinfo 6.5.0"
    ]


def test_bump_prints_a_diff_and_write_edits_byte_exactly(tmp_path: Path) -> None:
    app = _copy(tmp_path, "chart-argocd-multi-source", "app.yaml")
    original = app.read_bytes()
    shown = run("bump", str(app), "--chart", "prometheus", "--version", "25.9.0")
    assert shown.exit_code == 0, shown.output
    assert "-      targetRevision: '25.8.0'\n+      targetRevision: '25.9.0'\n" in shown.stdout
    assert app.read_bytes() == original
    written = run("bump", str(app), "--chart", "prometheus", "--version", "25.9.0", "--write")
    assert written.exit_code == 0, written.output
    assert f"{app}: doc 0 spec.sources[0].targetRevision: 25.8.0 -> 25.9.0" in written.stderr
    assert app.read_bytes() == (CASES / "chart-argocd-multi-source" / "expected.yaml").read_bytes()
    again = run("bump", str(app), "--chart", "prometheus", "--version", "25.9.0")
    assert again.exit_code == 1
    assert (
        "already at that value: 1 reference(s) matched --chart prometheus and all are already at 25.9.0"
        in again.stderr
    )


def test_bump_of_a_chart_not_there_exits_1(tmp_path: Path) -> None:
    hr = _copy(tmp_path, "chart-helmrelease-version", "hr.yaml")
    result = run("bump", str(hr), "--chart", "ghcr.io/stefanprodan/podinfo", "--version", "6.5.1")
    assert result.exit_code == 1
    assert f"nothing matched --chart ghcr.io/stefanprodan/podinfo in {hr}" in result.stderr


def test_a_range_is_refused_with_file_and_path_and_nothing_written(tmp_path: Path) -> None:
    releases = _copy(tmp_path, "chart-multi-document-flux", "releases.yaml")
    original = releases.read_bytes()
    result = run("bump", str(releases), "--chart", "redis", "--version", "20.0.0", "--write")
    assert result.exit_code == 2
    assert (
        f"error: {releases}:36: spec.chart.spec.version is '>=19.0.0 <20.0.0', not one version"
        in result.stderr
    )
    assert "no file was changed" in result.stderr
    assert releases.read_bytes() == original


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--chart", "podinfo"], "--chart goes with --version"),
        (["--version", "6.5.1", "--image", "nginx"], "--chart goes with --version"),
        (["--chart", "podinfo", "--version", "6.5.1", "--tag", "1"], "--chart goes with --version"),
        (["--chart", "podinfo", "--image", "nginx", "--version", "1.0.0"], "give exactly one of"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    hr = _copy(tmp_path, "chart-helmrelease-version", "hr.yaml")
    result = run("bump", str(hr), *args)
    assert result.exit_code == 2
    assert says in result.output


def test_a_range_as_the_new_version_exits_2(tmp_path: Path) -> None:
    hr = _copy(tmp_path, "chart-helmrelease-version", "hr.yaml")
    result = run("bump", str(hr), "--chart", "podinfo", "--version", ">=7.0.0")
    assert result.exit_code == 2
    assert "invalid chart version '>=7.0.0'" in result.stderr


def _kustomize_reads(directory: Path) -> str:
    """What kubectl's kustomize makes of the kustomization without --enable-helm: it parses the
    file into its Go types (a wrong type fails there) and then, before pulling anything, names
    the HelmChartInflationGenerator config it read."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with kustomize v5) is needed for this check (.ci/run installs it)"
    command = [kubectl, "kustomize", str(directory)]
    out = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    return out.stderr


def test_kustomize_reads_the_bumped_helmcharts_version(tmp_path: Path) -> None:
    kustomization = _copy(tmp_path, "chart-kustomize-helmcharts-crlf", "kustomization.yaml")
    before = _kustomize_reads(tmp_path)
    assert "must specify --enable-helm" in before and "version: 6.5.0" in before
    chart = "oci://ghcr.io/stefanprodan/charts/podinfo"
    result = run("bump", str(kustomization), "--chart", chart, "--version", "6.7.0", "--write")
    assert result.exit_code == 0, result.output
    after = _kustomize_reads(tmp_path)
    assert "must specify --enable-helm" in after, after
    assert "name: podinfo" in after and "version: 6.7.0" in after
    # the oracle can tell: a version kustomize cannot read as its string type fails to parse
    kustomization.write_bytes(kustomization.read_bytes().replace(b"version: 6.7.0", b"version: [6, 7]"))
    assert "cannot unmarshal" in _kustomize_reads(tmp_path)


NGINX_CONFIG = """\
forges:
  - {name: github, kind: github}
environments: {prod: {}}
rules:
  - name: nginx
    image: nginx
    targets:
      - {forge: github, repo: acme/deploy, environment: prod}
"""
NGINX_RELEASE = """\
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata: {name: proxy}
spec:
  chart:
    spec:
      chart: nginx          # the Bitnami chart, not the image
      version: 1.27.0
      sourceRef: {kind: HelmRepository, name: bitnami}
"""
NGINX_DEPLOYMENT = "spec:\n  template:\n    spec:\n      containers:\n        - image: nginx:1.25.0\n"


def test_an_image_rule_never_discovers_or_edits_a_chart_of_the_same_name(tmp_path: Path) -> None:
    checkout = tmp_path / "deploy"
    (checkout / "apps").mkdir(parents=True)
    (checkout / "apps" / "release.yaml").write_text(NGINX_RELEASE)
    (checkout / "apps" / "deploy.yaml").write_text(NGINX_DEPLOYMENT)
    config = tmp_path / "bot.yaml"
    config.write_text(NGINX_CONFIG)
    args = [
        "explain",
        "--config",
        str(config),
        "--image",
        "nginx",
        "--tag",
        "1.27.0",
        "--repo-dir",
        str(checkout),
    ]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "would touch: apps/deploy.yaml\n" in result.output
    assert "+++ b/apps/deploy.yaml" in result.output and "release.yaml" not in result.output
    listed = run("check-config", str(config), "--repo-dir", str(checkout))
    assert "  would touch: apps/deploy.yaml\n" in listed.stderr and "release.yaml" not in listed.stderr


CHART_CONFIG = """\
forges:
  - {name: github, kind: github}
environments: {prod: {}}
rules:
  - name: nginx-chart
    chart: oci://registry-1.docker.io/bitnamicharts/nginx
    targets:
      - {forge: github, repo: acme/deploy, environment: prod}
"""


def test_a_chart_rule_discovers_and_explains_its_chart_and_never_the_image(tmp_path: Path) -> None:
    checkout = tmp_path / "deploy"
    (checkout / "apps").mkdir(parents=True)
    (checkout / "apps" / "release.yaml").write_text(NGINX_RELEASE)
    (checkout / "apps" / "deploy.yaml").write_text(NGINX_DEPLOYMENT)
    config = tmp_path / "bot.yaml"
    config.write_text(CHART_CONFIG)
    for image in ("docker.io/bitnamicharts/nginx", "oci://registry-1.docker.io/bitnamicharts/nginx"):
        result = run(
            "explain",
            "--config",
            str(config),
            "--image",
            image,
            "--tag",
            "1.27.1",
            "--repo-dir",
            str(checkout),
        )
        assert result.exit_code == 0, result.output
        assert "oci://docker.io/bitnamicharts/nginx -> 1.27.1" in result.output
        assert "would touch: apps/release.yaml\n" in result.output
        assert "-      version: 1.27.0\n+      version: 1.27.1\n" in result.output
        assert "deploy.yaml" not in result.output
    listed = run("check-config", str(config), "--repo-dir", str(checkout))
    assert "uses the chart oci://docker.io/bitnamicharts/nginx" in listed.stderr
    assert "  would touch: apps/release.yaml\n" in listed.stderr and "deploy.yaml" not in listed.stderr


PATCHING_KUSTOMIZATION = """\
resources:
  - release.yaml
patches:
  - target: {kind: HelmRelease, name: podinfo}
    patch: |-
      apiVersion: helm.toolkit.fluxcd.io/v2
      kind: HelmRelease
      metadata:
        name: podinfo
      spec:
        chart:
          spec:
            chart: podinfo
            version: 6.5.0   # prod pins this
"""


def test_a_chart_version_a_kustomize_patch_sets_is_bumped_with_the_patch_or_refused(tmp_path: Path) -> None:
    release = _copy(tmp_path, "chart-helmrelease-version", "release.yaml")
    kustomization = tmp_path / "kustomization.yaml"
    kustomization.write_text(PATCHING_KUSTOMIZATION)
    alone = run("bump", str(release), "--chart", "podinfo", "--version", "6.5.1", "--write")
    assert alone.exit_code == 2
    assert (
        f"error: {release}: podinfo is set to 6.5.0 by {kustomization}:14 "
        "patches[0].patch|spec.chart.spec.version, which kustomize applies over release.yaml"
    ) in alone.stderr
    assert release.read_bytes() == (CASES / "chart-helmrelease-version" / "original.yaml").read_bytes()
    both = run(
        "bump", str(release), str(kustomization), "--chart", "podinfo", "--version", "6.5.1", "--write"
    )
    assert both.exit_code == 0, both.output
    assert "            version: 6.5.1   # prod pins this" in kustomization.read_text()
    assert release.read_bytes() == (CASES / "chart-helmrelease-version" / "expected.yaml").read_bytes()

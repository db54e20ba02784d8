"""Chart references: what the engine finds in each shape, what it refuses, and that charts never
stand in for images (bot/core/manifests/charts.py; the byte-exact bumps are golden cases)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.manifests import Edit, Selector, edit, load_text, scan
from bot.errors import ManifestError, UnsafeEdit

CASES = Path(__file__).resolve().parents[2] / "fixtures" / "manifests"


def _case(name: str) -> str:
    return load_text((CASES / name / "original.yaml").read_bytes(), name)


def _charts(text: str, file: str) -> list[tuple[str, int, str, str, str | None]]:
    return [(r.kind, r.doc, r.path, r.image, r.tag) for r in scan(text, file) if r.is_chart]


def _bump(chart: str, version: str) -> list[Edit]:
    return [Edit(Selector(chart=chart), tag=version)]


@pytest.mark.parametrize(
    ("case", "file", "expected"),
    [
        (
            "chart-helmrelease-version",
            "hr.yaml",
            [("helmrelease-chart", 0, "spec.chart.spec.version", "podinfo", "6.5.0")],
        ),
        (
            "chart-ocirepository-semver-plain",
            "oci.yaml",
            [
                (
                    "ocirepository-chart",
                    0,
                    "spec.ref.semver",
                    "oci://ghcr.io/stefanprodan/charts/podinfo",
                    "6.5.0",
                )
            ],
        ),
        (
            "chart-argocd-multi-source",
            "app.yaml",
            [
                ("argocd-chart", 0, "spec.sources[0].targetRevision", "prometheus", "25.8.0"),
                ("argocd-chart", 0, "spec.sources[2].targetRevision", "podinfo", "6.5.0"),
            ],
        ),
        (
            "chart-yaml-dependencies",
            "charts/shop/Chart.yaml",
            [
                ("chart-dependency", 0, "dependencies[0].version", "postgresql", "15.5.0"),
                (
                    "chart-dependency",
                    0,
                    "dependencies[1].version",
                    "oci://registry-1.docker.io/bitnamicharts/redis",
                    "~19.0.0",
                ),
                (
                    "chart-dependency",
                    0,
                    "dependencies[2].version",
                    "oci://registry-1.docker.io/bitnamicharts/common",
                    "2.19.0",
                ),
            ],
        ),
        (
            "chart-kustomize-helmcharts-crlf",
            "kustomization.yaml",
            [
                (
                    "kustomize-helmchart",
                    0,
                    "helmCharts[0].version",
                    "oci://ghcr.io/stefanprodan/charts/podinfo",
                    "6.5.0",
                ),
                ("kustomize-helmchart", 0, "helmCharts[1].version", "minecraft", "3.1.3"),
            ],
        ),
        (
            "chart-multi-document-flux",
            "releases.yaml",
            [
                ("helmrelease-chart", 1, "spec.chart.spec.version", "postgresql", "15.5.0"),
                ("helmrelease-chart", 2, "spec.chart.spec.version", "redis", ">=19.0.0 <20.0.0"),
                ("helmrelease-chart", 3, "spec.chart.spec.version", "postgresql", "15.5.0"),
            ],
        ),
    ],
)
def test_scan_finds_each_chart_shape(case: str, file: str, expected: list) -> None:
    assert _charts(_case(case), file) == expected


def test_a_chart_reference_points_at_its_version() -> None:
    ref = next(r for r in scan(_case("chart-helmrelease-version"), "hr.yaml") if r.is_chart)
    assert (ref.line, ref.column) == (12, 16)  # the `"6.5.0"` of `version: "6.5.0"`


def test_every_matching_document_is_bumped_and_counted() -> None:
    result = edit(_case("chart-multi-document-flux"), "releases.yaml", _bump("postgresql", "15.5.1"))
    assert result.matched == 2
    assert [(c.doc, c.path, c.old, c.new, c.chart, c.image) for c in result.changes] == [
        (1, "spec.chart.spec.version", "15.5.0", "15.5.1", "postgresql", None),
        (3, "spec.chart.spec.version", "15.5.0", "15.5.1", "postgresql", None),
    ]


@pytest.mark.parametrize(
    ("case", "file", "chart", "line", "says"),
    [
        (
            "chart-multi-document-flux",
            "releases.yaml",
            "redis",
            36,
            "spec.chart.spec.version is '>=19.0.0 <20.0.0'",
        ),
        (
            "chart-yaml-dependencies",
            "Chart.yaml",
            "oci://registry-1.docker.io/bitnamicharts/redis",
            13,
            "dependencies[1].version is '~19.0.0'",
        ),
    ],
)
def test_a_range_is_refused_naming_file_line_and_path(
    case: str, file: str, chart: str, line: int, says: str
) -> None:
    with pytest.raises(UnsafeEdit) as caught:
        edit(_case(case), file, _bump(chart, "20.0.0"))
    assert str(caught.value).startswith(f"{file}:{line}: {says}")
    assert "edit it by hand" in str(caught.value)


def test_a_tag_a_digest_overrides_is_refused() -> None:
    text = _case("chart-ocirepository-tag").replace(
        "  ref:\n", "  ref:\n    digest: sha256:" + "ab" * 32 + "\n"
    )
    with pytest.raises(
        UnsafeEdit, match=r"oci\.yaml:\d+: spec\.ref\.tag: spec\.ref\.digest pins the artifact"
    ):
        edit(text, "oci.yaml", _bump("oci://ghcr.io/stefanprodan/charts/podinfo", "6.6.0"))


def test_a_range_as_the_new_version_is_refused() -> None:
    with pytest.raises(ManifestError, match="not a range"):
        edit(_case("chart-helmrelease-version"), "hr.yaml", _bump("podinfo", "^6.6"))


def test_an_oci_tag_that_is_no_semver_is_refused_where_semver_is_read() -> None:
    # `latest` is a fine OCIRepository tag, but a HelmRelease version is a SemVer (range)
    result = edit(
        _case("chart-ocirepository-tag"), "oci.yaml", _bump("ghcr.io/stefanprodan/charts/podinfo", "latest")
    )
    assert [c.new for c in result.changes] == ["latest"]
    with pytest.raises(UnsafeEdit, match=r"spec\.chart\.spec\.version would not be a valid version"):
        edit(_case("chart-helmrelease-version"), "hr.yaml", _bump("podinfo", "latest"))
    with pytest.raises(UnsafeEdit, match=r"spec\.ref\.semver would not be a valid version"):
        edit(
            _case("chart-ocirepository-semver-plain"),
            "oci.yaml",
            _bump("ghcr.io/stefanprodan/charts/podinfo", "latest"),
        )


def test_versions_that_flux_ignores_or_that_are_not_pinned_are_not_references() -> None:
    text = _case("chart-helmrelease-version")
    from_git = text.replace("kind: HelmRepository", "kind: GitRepository")
    unpinned = text.replace('      version: "6.5.0"   # pinned\n', "")
    templated = text.replace('"6.5.0"', '"{{ .Values.podinfoVersion }}"')
    assert _charts(from_git, "hr.yaml") == []
    assert _charts(unpinned, "hr.yaml") == []
    # a templated version is listed but left alone, like an image placeholder
    assert _charts(templated, "hr.yaml")[0][4] == "{{ .Values.podinfoVersion }}"
    left = edit(templated, "hr.yaml", _bump("podinfo", "6.5.1"))
    assert not left.changed
    assert "placeholder" in left.skipped[0]


def test_charts_are_not_images_and_images_are_not_charts() -> None:
    text = _case("chart-helmrelease-version")
    by_image = edit(text, "hr.yaml", [Edit(Selector(image="podinfo"), tag="9.9.9")])
    assert by_image.matched == 0  # the chart named podinfo is no docker.io/library/podinfo
    by_chart = edit(text, "hr.yaml", _bump("ghcr.io/stefanprodan/podinfo", "9.9.9"))
    assert by_chart.matched == 0  # the image in the values is no chart
    image = edit(text, "hr.yaml", [Edit(Selector(image="ghcr.io/stefanprodan/podinfo"), tag="6.5.1")])
    assert [c.path for c in image.changes] == ["spec.values.image.tag"]


def test_a_chart_is_chosen_by_its_version_path_too() -> None:
    result = edit(
        _case("chart-argocd-multi-source"),
        "app.yaml",
        [Edit(Selector(path="spec.sources[2].targetRevision"), tag="6.6.0")],
    )
    assert [(c.path, c.old, c.new, c.chart) for c in result.changes] == [
        ("spec.sources[2].targetRevision", "6.5.0", "6.6.0", "podinfo")
    ]


APPLICATIONSET = """\
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: podinfo
spec:
  generators:
    - list:
        elements:
          - cluster: dev
  template:
    metadata:
      name: 'podinfo-{{cluster}}'
    spec:
      project: default
      source:
        repoURL: oci://ghcr.io/stefanprodan/charts
        chart: podinfo
        targetRevision: 6.5.0
      destination:
        name: '{{cluster}}'
        namespace: podinfo
"""
REQUIREMENTS = """\
dependencies:
  - name: mariadb
    version: 7.3.14
    repository: https://charts.example.com/stable
"""


def test_an_applicationset_template_and_a_helm_2_requirements_file_pin_charts_too() -> None:
    assert _charts(APPLICATIONSET, "appset.yaml") == [
        (
            "argocd-chart",
            0,
            "spec.template.spec.source.targetRevision",
            "oci://ghcr.io/stefanprodan/charts/podinfo",
            "6.5.0",
        )
    ]
    assert _charts(REQUIREMENTS, "charts/db/requirements.yaml") == [
        ("chart-dependency", 0, "dependencies[0].version", "mariadb", "7.3.14")
    ]
    assert _charts(REQUIREMENTS, "values.yaml") == []  # a `dependencies:` list elsewhere is no chart's
    bumped = edit(APPLICATIONSET, "appset.yaml", _bump("ghcr.io/stefanprodan/charts/podinfo", "6.6.0"))
    assert bumped.text == APPLICATIONSET.replace("targetRevision: 6.5.0", "targetRevision: 6.6.0")

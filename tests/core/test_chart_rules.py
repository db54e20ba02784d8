"""Chart rules (issue 24 item 2): ``chart``/``chart_glob`` route chart pushes with the image
policies, and the planned intents bump every shape of chart reference byte-exactly."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot.core.config import Config, load_config
from bot.core.events import ImagePushed
from bot.core.planning import plan, poll_tags
from bot.errors import ConfigError
from bot.services.desired import edit_intent

FIXTURES = Path(__file__).parent.parent / "fixtures" / "manifests"
OCI = "oci://ghcr.io/stefanprodan/charts/podinfo"
HEAD = "forges:\n  - {name: disk, kind: local, path: /srv/git}\nrules:\n"


def config(rules: str) -> Config:
    return load_config(HEAD + textwrap.indent(textwrap.dedent(rules), "  "), "bot.yaml")


def push(image: str, tag: str) -> ImagePushed:
    return ImagePushed(image=image, tag=tag, digest=None, source="distribution")


CHART_RULE = f"""\
- name: podinfo
  chart: {OCI}
  policy: {{semver: "^6.0.0", ignore: ["6.5.2"]}}
  targets: [{{forge: disk, repo: deploy, environment: dev}}]
- name: web-image
  image: ghcr.io/stefanprodan/charts/podinfo
  targets: [{{forge: disk, repo: deploy, environment: dev, files: [values.yaml]}}]
"""


def test_a_push_of_an_oci_repository_reaches_its_chart_rule_and_its_image_rule_apart() -> None:
    result = plan(push("ghcr.io/stefanprodan/charts/podinfo", "6.5.1"), config(CHART_RULE))
    assert sorted(i.image for i in result.intents) == [
        "ghcr.io/stefanprodan/charts/podinfo",
        OCI,
    ]
    chart = next(i for i in result.intents if i.image == OCI)
    assert (chart.tag, chart.files, chart.group) == ("6.5.1", (), "dev")


def test_a_chart_key_push_reaches_chart_rules_only() -> None:
    result = plan(push(OCI, "6.5.1"), config(CHART_RULE))
    assert [i.image for i in result.intents] == [OCI]


@pytest.mark.parametrize(
    ("tag", "reason"),
    [("7.0.0", "semver"), ("6.5.2", "ignore"), ("6.6.0-rc.1", "prerelease")],
)
def test_chart_versions_go_through_the_same_policies(tag: str, reason: str) -> None:
    result = plan(push(OCI, tag), config(CHART_RULE))
    assert result.intents == ()
    assert any(s.rule == "podinfo" and tag in s.reason for s in result.skips), result.skips


def test_a_chart_glob_routes_oci_charts_only() -> None:
    rules = """\
    - name: charts
      chart_glob: "oci://ghcr.io/acme/charts/*"
      targets: [{forge: disk, repo: deploy}]
    """
    got = plan(push("ghcr.io/acme/charts/web", "1.2.0"), config(rules))
    assert [i.image for i in got.intents] == ["oci://ghcr.io/acme/charts/web"]
    assert plan(push("ghcr.io/acme/other/web", "1.2.0"), config(rules)).intents == ()


def test_a_classic_chart_is_named_by_its_repository_and_polled_by_its_versions() -> None:
    rules = """\
    - name: ingress
      chart: ingress-nginx
      repository: https://kubernetes.github.io/ingress-nginx/
      poll: 10m
      policy: {semver: "~4.10.0"}
      targets: [{forge: disk, repo: deploy}]
    """
    cfg = config(rules)
    key = "https://kubernetes.github.io/ingress-nginx/ingress-nginx"
    assert cfg.poll_intervals() == {key: 600.0}
    assert poll_tags(cfg, key, ["4.9.1", "4.10.1", "4.11.0", "4.10.2-beta.1"]) == ("4.10.1",)


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("chart: podinfo", "needs its Helm repository"),
        ("chart: oci://ghcr.io/x/podinfo:6.5.0", "without a version"),
        ("chart: oci://ghcr.io/x/podinfo\n  policy: {pin: digest}", "pin 'tag' only"),
        ("chart_glob: 'ghcr.io/x/*'", "oci://host/path/*"),
        ("image: nginx\n  repository: https://charts.example.com", "repository goes with chart"),
        ("chart: oci://ghcr.io/x/podinfo\n  image: nginx", "give exactly one of"),
    ],
)
def test_bad_chart_rules_are_refused_on_their_line(rule: str, message: str) -> None:
    text = f"- name: bad\n  {rule}\n  targets: [{{forge: disk, repo: deploy}}]\n"
    with pytest.raises(ConfigError) as exc:
        config(text)
    (problem,) = exc.value.problems
    assert problem.startswith(("bot.yaml:4: rules[0]", "bot.yaml:5: rules[0]")) and message in problem, (
        problem
    )


# --- the engine bumps each shape of chart reference byte-exactly ----------------------------------
SHAPES = {
    # fixture → (the rule's chart, the pushed version, a second chart rule that must not touch it)
    "chart-helmrelease-version": ("chart: oci://ghcr.io/stefanprodan/charts/podinfo", "6.5.1"),
    "chart-ocirepository-tag": ("chart: oci://ghcr.io/stefanprodan/charts/podinfo", "6.6.0"),
    "chart-argocd-single-source": (
        "chart: ingress-nginx\n  repository: https://kubernetes.github.io/ingress-nginx",
        "4.10.1",
    ),
    "chart-yaml-dependencies": ("chart: oci://registry-1.docker.io/bitnamicharts/common", "2.20.0"),
    "chart-kustomize-helmcharts-crlf": ("chart: oci://ghcr.io/stefanprodan/charts/podinfo", "6.7.0"),
}


@pytest.mark.parametrize("case", sorted(SHAPES))
def test_a_planned_chart_intent_bumps_each_shape_byte_exactly(case: str) -> None:
    chart, version = SHAPES[case]
    cfg = config(f"- name: c\n  {chart}\n  targets: [{{forge: disk, repo: deploy}}]\n")
    key = cfg.rules[0].chart_key
    assert key is not None
    (intent,) = plan(push(key, version), cfg).intents
    original = (FIXTURES / case / "original.yaml").read_bytes().decode()
    expected = (FIXTURES / case / "expected.yaml").read_bytes().decode()
    result = edit_intent(original, "charts/shop/Chart.yaml" if "yaml-dep" in case else "app.yaml", intent)
    assert result.text == expected
    assert [c.chart for c in result.changes] and all(c.new == version for c in result.changes)


def test_a_chart_key_never_edits_a_same_named_chart_of_another_repository() -> None:
    text = (FIXTURES / "chart-kustomize-helmcharts-crlf" / "original.yaml").read_bytes().decode()
    other = "oci://ghcr.io/someone-else/charts/podinfo"
    cfg = config(f"- name: c\n  chart: {other}\n  targets: [{{forge: disk, repo: deploy}}]\n")
    (intent,) = plan(push("oci://ghcr.io/someone-else/charts/podinfo", "6.7.0"), cfg).intents
    result = edit_intent(text, "kustomization.yaml", intent)
    assert (result.text, result.matched) == (text, 0)


def test_an_image_rule_never_edits_a_chart_and_a_chart_rule_never_an_image() -> None:
    text = (FIXTURES / "chart-helmrelease-version" / "original.yaml").read_bytes().decode()
    both = """\
    - name: image
      image: ghcr.io/stefanprodan/podinfo
      targets: [{forge: disk, repo: deploy, files: [hr.yaml]}]
    - name: chart
      chart: oci://ghcr.io/stefanprodan/podinfo
      targets: [{forge: disk, repo: deploy, files: [hr.yaml]}]
    """
    intents = plan(push("ghcr.io/stefanprodan/podinfo", "6.9.0"), config(both)).intents
    by_name = {i.image: edit_intent(text, "hr.yaml", i) for i in intents}
    image_edit = by_name["ghcr.io/stefanprodan/podinfo"]
    assert [c.path for c in image_edit.changes] == ["spec.values.image.tag"]
    chart_edit = by_name["oci://ghcr.io/stefanprodan/podinfo"]
    assert [c.path for c in chart_edit.changes] == ["spec.chart.spec.version"]


def test_a_digest_pin_of_the_defaults_or_environment_is_for_images_not_charts() -> None:
    text = (
        "forges:\n  - {name: disk, kind: local, path: /srv/git}\n"
        "defaults: {policy: {pin: tag+digest}}\n"
        "environments: {dev: {policy: {digest: stable}}}\n"
        "rules:\n"
        f"  - {{name: c, chart: {OCI}, targets: [{{forge: disk, repo: deploy, environment: dev}}]}}\n"
        "  - {name: i, image: ghcr.io/acme/api, targets: [{forge: disk, repo: deploy, environment: dev}]}\n"
    )
    cfg = load_config(text, "bot.yaml")
    (chart,) = plan(push(OCI, "6.5.1"), cfg).intents
    assert (chart.pin, chart.tag, chart.ordering_scheme) == ("tag", "6.5.1", "semver")
    (image,) = plan(push("ghcr.io/acme/api", "stable"), cfg).intents
    assert (image.pin, image.ordering_scheme) == ("tag+digest", "digest")

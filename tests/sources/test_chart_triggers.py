"""Chart pushes from the senders that send them (issue 24 item 4): each recorded push reaches the
chart rule naming its OCI repository (``oci://…``) and bumps the chart's version; a push the
sender marks as a Helm chart (GHCR's manifest config, Artifactory's ``oci`` type) reaches chart
rules only, never an image rule of the same repository."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bot import sources
from bot.core.config import Config, load_config
from bot.core.planning import plan

FIXTURES = Path(__file__).parent.parent / "fixtures" / "webhooks"

# (source, fixture, headers, the pushed OCI repository, its tag)
PUSHES = [
    ("distribution", "manifest_push", {}, "registry.example.com:5000/acme/api", "1.0.0"),
    ("harbor", "push_artifact", {}, "harbor.example.com/library/nginx", "v1.2.0"),
    ("harbor", "push_artifact.cdevents", {}, "harbor.dev/library/busybox", "v1.0"),
    ("cdevents", "artifact_published.oci", {}, "ghcr.io/acme/api", "1.4.2"),
    (
        "github",
        "package.published.container",
        {"x-github-event": "package"},
        "ghcr.io/octo-org/octo-repo",
        "2.0.0",
    ),
    (
        "github",
        "registry_package.published.helm",
        {"x-github-event": "registry_package"},
        "ghcr.io/octo-org/charts/octo-repo",
        "0.3.1",
    ),
    ("artifactory", "oci_pushed", {}, "acme.jfrog.io/helm-oci/charts/api", "0.3.1"),
]
#: the senders that say the push is a chart's (the others cannot tell it from an image's)
MARKED = {"registry_package.published.helm", "oci_pushed"}


def config(repository: str) -> Config:
    rules = f"""\
    - name: chart
      chart: oci://{repository}
      policy: {{allow: '.*'}}
      targets: [{{forge: disk, repo: deploy, environment: dev, files: [kustomization.yaml]}}]
    - name: image
      image: {repository}
      targets: [{{forge: disk, repo: deploy, environment: dev, files: [kustomization.yaml]}}]
    """
    head = "forges:\n  - {name: disk, kind: local, path: /srv/git}\nrules:\n"
    return load_config(head + textwrap.indent(textwrap.dedent(rules), "  "), "bot.yaml")


@pytest.mark.parametrize(
    ("source", "name", "headers", "repository", "tag"), PUSHES, ids=[p[1] for p in PUSHES]
)
def test_a_recorded_push_reaches_the_chart_rule_of_its_repository(
    source: str, name: str, headers: dict[str, str], repository: str, tag: str
) -> None:
    (event,) = sources.get(source).parse(headers, (FIXTURES / source / f"{name}.json").read_bytes()).events
    result = plan(event, config(repository))
    chart = [i for i in result.intents if i.image == f"oci://{repository}"]
    assert [(i.tag, i.files) for i in chart] == [(tag, ("kustomization.yaml",))], result.skips
    images = [i.image for i in result.intents if i.image == repository]
    assert images == ([] if name in MARKED else [repository])

"""``parse_index`` reads what a Helm repository publishes, and only that: every chart's versions
with their archive digests, from YAML or JSON, whatever else the index holds."""

from __future__ import annotations

import json

import pytest

from bot.errors import ValidationFailed
from bot.registry.helm_index import parse_index

DIGEST = "a" * 64

INDEX = f"""\
apiVersion: v1
entries:
  podinfo:
  - apiVersion: v2
    name: podinfo
    version: 6.5.1
    digest: {DIGEST}
    dependencies:            # a dependency's version is not the chart's
    - {{name: redis, version: 99.0.0}}
    annotations: {{version: "88.0.0"}}
    urls: [https://example.com/podinfo-6.5.1.tgz]
  - name: podinfo
    version: "6.5.0"
    description: |
      version: 77.0.0 (prose, not a version)
  redis:
  - {{name: redis, version: 19.0.1, digest: not-hex}}
generated: "2024-05-02T10:00:00Z"
serverInfo: {{contextPath: /charts, version: 55.0.0}}
"""


def test_every_charts_versions_and_digests_and_nothing_else() -> None:
    assert parse_index(INDEX.encode(), "index") == {
        "podinfo": {"6.5.1": f"sha256:{DIGEST}", "6.5.0": ""},
        "redis": {"19.0.1": ""},  # a digest that is not one is left out, the version kept
    }


def test_a_json_index_reads_the_same() -> None:
    data = {"apiVersion": "v1", "entries": {"podinfo": [{"name": "podinfo", "version": "1.0.0"}]}}
    assert parse_index(json.dumps(data).encode(), "index") == {"podinfo": {"1.0.0": ""}}


def test_aliases_are_never_expanded_into_versions() -> None:
    text = "entries:\n  a:\n  - &v {name: a, version: 1.0.0}\n  - *v\n  - {name: a, version: *x}\n"
    assert parse_index(text.encode(), "index") == {"a": {"1.0.0": ""}}
    text = "x: &ver 2.0.0\nentries:\n  a:\n  - {name: a, version: 1.0.0}\n  - {name: a, version: *ver}\n"
    assert parse_index(text.encode(), "index") == {"a": {"1.0.0": ""}}


@pytest.mark.parametrize("text", ["entries: [1, 2]\n", "- a\n- b\n", "entries:\n  a: {version: 1.0.0}\n"])
def test_other_shapes_list_no_versions(text: str) -> None:
    assert parse_index(text.encode(), "index") == {}


def test_unreadable_yaml_is_refused_with_where() -> None:
    where = "https://charts.example.com/index.yaml"
    with pytest.raises(ValidationFailed, match=rf"{where}: not a Helm .* at line \d"):
        parse_index(b"entries:\n  a: [\n", where)


def test_a_versions_first_source_is_kept_when_asked() -> None:
    text = (
        "apiVersion: v1\nentries:\n  a:\n"
        "    - version: 1.0.0\n      sources: [https://github.com/acme/a, https://example.com/a]\n"
        "    - version: 0.9.0\n      sources: []\n"
        "    - version: 0.8.0\n"
    )
    sources: dict[str, dict[str, str]] = {}
    assert parse_index(text.encode(), "index", sources=sources) == {
        "a": {"1.0.0": "", "0.9.0": "", "0.8.0": ""}
    }
    assert sources == {"a": {"1.0.0": "https://github.com/acme/a"}}

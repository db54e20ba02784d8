"""Helm chart (and Flux OCI artifact) references: where a chart's version is pinned (pure).

A chart reference is a :class:`Found` like an image's, with a ``tag`` slot (the version scalar,
the only one ever edited) and a ``match`` slot (the chart's name, never edited). Its
``Reference.image`` holds the chart — the name, or ``oci://host/path/name`` for an OCI source —
and ``Reference.tag`` the version as written. The shapes:

- ``helmrelease-chart``: a Flux HelmRelease's ``spec.chart.spec.version`` (+ ``chart``), unless its
  ``sourceRef`` is a GitRepository or Bucket (Flux ignores the version there);
- ``ocirepository-chart``: a Flux OCIRepository's ``spec.ref.semver`` else ``spec.ref.tag`` (Flux's
  order), the chart being ``spec.url``;
- ``argocd-chart``: an Argo CD Application's (or ApplicationSet template's) Helm source
  ``chart`` + ``targetRevision``, in ``spec.source`` and every ``spec.sources[i]``;
- ``chart-dependency``: ``dependencies[i].version`` of a ``Chart.yaml`` (or ``requirements.yaml``);
- ``kustomize-helmchart``: ``helmCharts[i].version`` of a kustomization.

A version that is a range (``>=6.0.0``, ``~1.2``, ``6.x``) is reported but not edited (its
``problem`` says so), nor is a tag that a ``spec.ref.digest`` overrides. An entry without a version
follows the latest release: nothing is pinned, so nothing is reported.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import yaml

from bot.core.images import validate_tag
from bot.core.manifests.found import NULL_TAG, Found, Slot, is_inline_scalar, is_value_scalar, make_found
from bot.core.manifests.model import RefKind
from bot.core.manifests.tree import Path, format_path, pairs
from bot.errors import InvalidReference

if TYPE_CHECKING:
    from bot.core.manifests.loader import Parsed

#: one exact version (SemVer 2, an optional ``v``, ``1`` and ``1.2`` allowed as Helm allows them)
PLAIN_VERSION = re.compile(r"v?\d+(?:\.\d+){0,2}(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")
_CHART_FILES = frozenset({"Chart.yaml", "Chart.yml", "requirements.yaml", "requirements.yml"})
_IGNORED_SOURCES = frozenset({"GitRepository", "Bucket"})


def takes_any_tag(path: str) -> bool:
    """An OCIRepository's ``spec.ref.tag`` takes any OCI tag; every other version is SemVer."""
    return path.endswith("spec.ref.tag")


def version_problem(version: str | None, *, any_tag: bool = False) -> str | None:
    """Why ``version`` cannot be written as a chart's version (``any_tag``: where an OCI tag goes)."""
    if version is None:
        return "no version"
    if any_tag and not PLAIN_VERSION.fullmatch(version):
        try:
            validate_tag(version)
        except InvalidReference as exc:
            return str(exc)
        return None
    if not PLAIN_VERSION.fullmatch(version):
        return f"invalid chart version {version!r}: give one version such as 1.2.3 (not a range)"
    return None


def check_version(version: str) -> None:
    """Raise ValueError unless ``version`` can be some chart reference's version (each shape's
    own rule is checked on the edited reference)."""
    if version_problem(version, any_tag=True) is not None:
        raise ValueError(f"invalid chart version {version!r}: give one version such as 1.2.3 (not a range)")


def find(parsed: Parsed, file: str, doc: int, root: yaml.Node) -> list[Found]:
    """The chart references of one document."""
    if not isinstance(root, yaml.MappingNode):
        return []
    top = _entries(root)
    kind, api = _text(top.get("kind")), _text(top.get("apiVersion"))
    found: list[Found] = []
    for hit in _shapes(file, top, kind, api):
        made = _make(parsed, file, doc, hit)
        if made is not None:
            found.append(made)
    return found


@dataclass(frozen=True, slots=True)
class _Hit:
    kind: RefKind
    path: Path  # of the version
    name_path: Path
    name: yaml.Node
    version: yaml.Node | None
    repo: yaml.Node | None = None  # an ``oci://`` repository makes the chart ``oci://…/name``
    overridden: str | None = None  # why the version written is not the one used


def _shapes(file: str, top: dict[str, yaml.Node], kind: str, api: str) -> Iterator[_Hit]:
    spec = _entries(top.get("spec"))
    if kind == "HelmRelease" and api.startswith("helm.toolkit.fluxcd.io/"):
        yield from _helmrelease(spec)
    elif kind == "OCIRepository" and api.startswith("source.toolkit.fluxcd.io/"):
        yield from _ocirepository(spec)
    elif kind in ("Application", "ApplicationSet") and api.startswith("argoproj.io/"):
        prefix: Path = ("spec",)
        if kind == "ApplicationSet":
            spec, prefix = _entries(_entries(spec.get("template")).get("spec")), ("spec", "template", "spec")
        yield from _argocd(spec, prefix)
    elif posixpath.basename(file.replace("\\", "/")) in _CHART_FILES:
        yield from _list_items(top, "dependencies", "repository", "chart-dependency")
    elif kind in ("", "Kustomization", "Component") and not api.startswith("kustomize.toolkit.fluxcd.io/"):
        yield from _list_items(top, "helmCharts", "repo", "kustomize-helmchart")


def _helmrelease(spec: dict[str, yaml.Node]) -> Iterator[_Hit]:
    chart = _entries(_entries(spec.get("chart")).get("spec"))
    source = _entries(chart.get("sourceRef"))
    at: Path = ("spec", "chart", "spec")
    if "chart" in chart and _text(source.get("kind")) not in _IGNORED_SOURCES:
        yield _Hit(
            "helmrelease-chart", (*at, "version"), (*at, "chart"), chart["chart"], chart.get("version")
        )


def _ocirepository(spec: dict[str, yaml.Node]) -> Iterator[_Hit]:
    ref = _entries(spec.get("ref"))
    key = "semver" if "semver" in ref else "tag"  # Flux: digest, else semver, else tag
    pinned = _text(ref.get("digest"))
    overridden = "spec.ref.digest pins the artifact, so this is not used" if pinned else None
    if "url" in spec:
        yield _Hit(
            "ocirepository-chart",
            ("spec", "ref", key),
            ("spec", "url"),
            spec["url"],
            ref.get(key),
            None,
            overridden,
        )


def _argocd(spec: dict[str, yaml.Node], prefix: Path) -> Iterator[_Hit]:
    sources: list[tuple[Path, dict[str, yaml.Node]]] = []
    if "source" in spec:
        sources.append(((*prefix, "source"), _entries(spec["source"])))
    listed = spec.get("sources")
    if isinstance(listed, yaml.SequenceNode):
        sources.extend(((*prefix, "sources", i), _entries(item)) for i, item in enumerate(listed.value))
    for at, source in sources:
        if "chart" in source:
            yield _Hit(
                "argocd-chart",
                (*at, "targetRevision"),
                (*at, "chart"),
                source["chart"],
                source.get("targetRevision"),
                source.get("repoURL"),
            )


def _list_items(top: dict[str, yaml.Node], key: str, repo_key: str, kind: RefKind) -> Iterator[_Hit]:
    items = top.get(key)
    if not isinstance(items, yaml.SequenceNode):
        return
    for i, item in enumerate(items.value):
        entries = _entries(item)
        if "name" in entries:
            yield _Hit(
                kind,
                (key, i, "version"),
                (key, i, "name"),
                entries["name"],
                entries.get("version"),
                entries.get(repo_key),
            )


def _chart(hit: _Hit) -> str:
    """The chart's name, or ``oci://…/name`` when its repository is an OCI one."""
    name, base = _text(hit.name), _text(hit.repo)
    if name and base.startswith("oci://"):
        return f"{base.rstrip('/')}/{name}"
    return name


def _make(parsed: Parsed, file: str, doc: int, hit: _Hit) -> Found | None:
    version = hit.version
    if not isinstance(version, yaml.ScalarNode) or not is_inline_scalar(version):
        return None  # not a scalar: not ours to read
    chart = _chart(hit)
    if not chart or version.value == "" or version.tag == NULL_TAG:
        return None  # no version pinned: it follows the latest release
    assert isinstance(hit.name, yaml.ScalarNode)
    slots = [Slot(version, hit.path, "tag"), Slot(hit.name, hit.name_path, "match")]
    found = make_found(
        parsed,
        file,
        doc,
        kind=hit.kind,
        path=hit.path,
        image=chart,
        version=(version.value, None),
        slots=slots,
        repository=_text(hit.repo) or None,
    )
    where = format_path(hit.path)
    problem = version_problem(version.value, any_tag=takes_any_tag(format_path(hit.path)))
    if hit.overridden is not None:
        found.problem = f"{where}: {hit.overridden}; edit it by hand"
    elif problem is not None and found.placeholder is None:
        found.problem = f"{where} is {version.value!r}, not one version, so it is not bumped; edit it by hand"
    return found


def _entries(node: yaml.Node | None) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k: v for k, _, v in pairs(node)}


def _text(node: yaml.Node | None) -> str:
    return node.value if isinstance(node, yaml.ScalarNode) and is_value_scalar(node) else ""

"""Chart keys: how the bot names a Helm chart wherever an image name would go (pure).

A chart routed by a rule travels through planning, intents, groups, PR rows and polling under its
*key*, a URL, so it can never be taken for an image (an image name never holds ``://``):

- an OCI chart: ``oci://<registry host>/<path>/<name>`` (``oci://ghcr.io/stefanprodan/charts/podinfo``),
  host lower-cased and Docker Hub's aliases made ``docker.io`` as for images; its OCI repository
  is ``oci_repository`` (``ghcr.io/stefanprodan/charts/podinfo``), what a registry push names;
- a chart of a classic Helm repository: ``<repository URL>/<name>``
  (``https://stefanprodan.github.io/podinfo/podinfo``), whose versions are its ``index.yaml``'s.

Manifests write charts in several ways (``bot.core.manifests.charts``); ``ref_matches`` says which
written reference a key stands for.
"""

from __future__ import annotations

import re

from bot.core.images import canonical_name, parse_image
from bot.errors import InvalidReference

OCI = "oci://"
_SCHEMES = ("oci://", "https://", "http://")
#: a chart's name (Helm: lower case letters, digits, ``-``, ``_`` and ``.``)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def is_chart(name: str) -> bool:
    """Whether ``name`` is a chart key (images never hold ``://``)."""
    return "://" in name


def _url_key(url: str) -> str:
    scheme, _, rest = url.strip().partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}://{host.lower()}{slash}{path}".rstrip("/")


def chart_key(chart: str, repository: str | None = None) -> str:
    """The key of ``chart`` (``oci://…/name``, or a name with its Helm ``repository`` URL);
    ValueError says what is wrong."""
    chart = chart.strip()
    if chart.startswith(OCI):
        if repository is not None:
            raise ValueError("an oci:// chart names its repository itself: give no repository")
        try:
            ref = parse_image(chart[len(OCI) :])
        except InvalidReference as exc:
            raise ValueError(f"invalid OCI chart {chart!r}: {exc}") from None
        if ref.tag or ref.digest or ref.registry is None:
            raise ValueError(f"give the OCI chart as oci://host/path/name without a version (not {chart!r})")
        return OCI + canonical_name(ref.name)
    if "://" in chart:
        raise ValueError(f"a chart is oci://host/path/name or a chart name (got {chart!r})")
    if not _NAME.fullmatch(chart):
        raise ValueError(f"invalid chart name {chart!r}")
    if repository is None:
        raise ValueError(
            f"chart {chart!r} needs its Helm repository (repository: https://…), or give an oci:// chart"
        )
    if not repository.strip().lower().startswith(("https://", "http://")):
        raise ValueError(f"a Helm repository is an https:// URL (got {repository!r})")
    return f"{_url_key(repository)}/{chart}"


def name_of(key: str) -> str:
    """The chart's name: the last part of its key (``podinfo``)."""
    return key.rstrip("/").rsplit("/", 1)[-1]


def oci_repository(key: str) -> str | None:
    """The OCI repository of an OCI chart key (``ghcr.io/acme/charts/web``); None for others."""
    return key[len(OCI) :] if key.startswith(OCI) else None


def helm_repository(key: str) -> str | None:
    """The Helm repository URL of a classic chart's key (``https://charts.example.com``)."""
    if not key.startswith(("https://", "http://")):
        return None
    return key.rsplit("/", 1)[0]


def ref_matches(written: str, repository: str | None, key: str) -> bool:
    """Whether a chart reference written as ``written`` (its name or ``oci://…/name``, with the
    ``repository`` its entry names, if any) is the chart ``key``:

    - ``oci://…/name`` references: the same OCI chart;
    - a name with an ``http(s)://`` repository (Argo CD ``repoURL``, a Chart.yaml dependency,
      Kustomize ``repo``): the same Helm repository and name;
    - a name with a repository without scheme (Argo CD's OCI ``repoURL: ghcr.io/acme/charts``):
      the OCI chart ``oci://<repository>/<name>``;
    - a name alone (a Flux HelmRelease, whose HelmRepository is another object) or with a Helm
      repository alias (``@stable``): the same name.
    """
    if written.startswith(OCI):
        try:
            return chart_key(written) == key
        except ValueError:
            return False
    if written != name_of(key):
        return False
    repo = (repository or "").strip()
    if not repo or repo.startswith(("@", "alias:")):
        return True
    try:
        if repo.lower().startswith(_SCHEMES[1:]):
            return chart_key(written, repo) == key
        if repo.startswith(OCI):
            return chart_key(f"{repo.rstrip('/')}/{written}") == key
        return chart_key(f"{OCI}{repo.rstrip('/')}/{written}") == key
    except ValueError:
        return False

"""Which images read one Helm value: a value shared by several images moves them all (pure).

A chart may build many images from one value, as in ``image: {{ .Values.images.repository }}/
{{ .Values.adService.name }}:{{ .Values.images.tag | default .Chart.AppVersion }}`` for each of
its services: a target ``path: images.tag`` then moves every one of them. ``readers`` finds the
``image:`` lines of the chart's templates that use ``.Values.<path>`` and names each image,
filling in the ``.Values`` it reads from the values file (an expression it cannot fill in stays as
written).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import yaml

from bot.core.manifests.loader import compose, no_gc
from bot.core.manifests.tree import lookup, parse_path
from bot.errors import ManifestError

#: template files of a chart (``templates/`` and its sub-directories)
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".tpl")
#: at most this many template files are read for one value (a chart with more is not looked at)
MAX_TEMPLATES = 500
#: how far above a values file its chart's Chart.yaml may be (``values.yaml``, ``env/values.yaml``)
_CHART_DEPTH = 2
_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
_VALUES = re.compile(r"\.Values\.([A-Za-z0-9_.]+)")
_DEFAULT = re.compile(r"\|\s*default\s+\"([^\"]*)\"")


@dataclass(frozen=True, slots=True)
class Reader:
    """One image a template builds from the value: its name as far as it can be filled in."""

    image: str
    file: str
    line: int


def chart_templates(tree: Iterable[str], values_file: str) -> list[str]:
    """The template files of the chart ``values_file`` belongs to (its directory, or one above,
    holds ``Chart.yaml``), among the repository's ``tree``; none when there is no such chart or
    it has more than ``MAX_TEMPLATES``."""
    paths = set(tree)
    directory = posixpath.dirname(values_file)
    for _ in range(_CHART_DEPTH):
        if posixpath.join(directory, "Chart.yaml") in paths:
            prefix = posixpath.join(directory, "templates") + "/"
            found = sorted(p for p in paths if p.startswith(prefix) and p.endswith(TEMPLATE_SUFFIXES))
            return found if len(found) <= MAX_TEMPLATES else []
        if not directory:
            break
        directory = posixpath.dirname(directory)
    return []


def readers(values_file: str, values_text: str, path: str, templates: Mapping[str, str]) -> list[Reader]:
    """The images of ``templates`` (path → text) whose ``image:`` reads ``.Values.<path>``, each
    named from the values file; one per template line, in file order."""
    try:
        with no_gc():
            parsed = compose(values_text, values_file)
    except ManifestError:
        return []
    root = next((r for _, r in parsed.documents()), None)
    uses = re.compile(r"\.Values\." + re.escape(path) + r"(?![A-Za-z0-9_.])")
    out = []
    for file in sorted(templates):
        for number, line in enumerate(templates[file].splitlines(), start=1):
            key, _, value = line.strip().lstrip("- ").partition(":")
            if key.strip().strip("\"'") != "image" or not uses.search(value):
                continue
            out.append(Reader(_name(_fill(value.strip().strip("\"'"), root)), file, number))
    return out


def _fill(text: str, root: yaml.Node | None) -> str:
    """The template text with each ``{{ .Values.x }}`` it can resolve replaced by its value."""

    def action(m: re.Match[str]) -> str:
        ref = _VALUES.search(m[1])
        node = None
        if ref is not None and root is not None:
            try:
                node = lookup(root, parse_path(ref[1]))
            except ValueError:
                node = None
        if isinstance(node, yaml.ScalarNode) and node.value:
            return node.value
        fallback = _DEFAULT.search(m[1])
        return fallback[1] if fallback else m[0]

    return _ACTION.sub(action, text)


def _name(image: str) -> str:
    """The image name without its tag or digest (``name:{{ tag }}`` → ``name``)."""
    image = image.split("@", 1)[0]
    head, colon, tail = image.rpartition(":")
    return head if colon and "/" not in tail else image

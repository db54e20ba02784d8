"""Argo CD Application sources (pure).

- ``kustomize.images``: strings ``[alias=]image[:tag][@digest]``;
- ``helm.parameters``: ``{name, value}`` items. ``name: image`` (or ``….image``, ``…Image``) with
  a ``repo:tag`` value is one reference; ``image.repository`` / ``image.name`` / ``image.registry``
  / ``image.tag`` / ``image.version`` / ``image.digest`` items with one prefix are the parts of one
  (a missing part is never added: it would be a new parameter).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import yaml

from bot.core.images import parse_image
from bot.core.manifests import helm
from bot.core.manifests.found import Slot, is_value_scalar
from bot.core.manifests.tree import Path
from bot.errors import InvalidReference

if TYPE_CHECKING:
    from bot.core.manifests.locate import Locator

_IMAGE_NAME = re.compile(r"(?:.*\.)?(?:[A-Za-z0-9_-]*[a-z0-9_-]Image|(?:[A-Za-z0-9_-]*[_-])?image)\Z", re.I)


def kustomize_images(loc: Locator, node: yaml.SequenceNode, path: Path) -> None:
    for i, item in enumerate(node.value):
        if is_value_scalar(item):
            _kustomize_image(loc, item, (*path, i))


def _kustomize_image(loc: Locator, node: yaml.ScalarNode, path: Path) -> None:
    prefix, sep, rest = node.value.rpartition("=")
    try:
        ref = parse_image(rest)
    except InvalidReference:
        return
    slot = Slot(node, path, "ref", prefix=prefix + sep)
    loc.add("argocd", path, ref.name, (ref.tag, ref.digest), [slot])


def helm_parameters(loc: Locator, node: yaml.SequenceNode, path: Path) -> None:
    groups: dict[str, dict[str, tuple[Path, yaml.Node]]] = {}
    for i, item in enumerate(node.value):
        if not isinstance(item, yaml.MappingNode):
            continue
        entries = {k.value: v for k, v in item.value if isinstance(k, yaml.ScalarNode)}
        name, value = entries.get("name"), entries.get("value")
        if not is_value_scalar(name) or not isinstance(value, yaml.ScalarNode):
            continue
        assert isinstance(name, yaml.ScalarNode)
        value_path = (*path, i, "value")
        if _IMAGE_NAME.fullmatch(name.value):
            ref = loc.parse(value)
            if ref is not None and (ref.tag is not None or ref.digest is not None):
                loc.add(
                    "argocd", value_path, ref.name, (ref.tag, ref.digest), [Slot(value, value_path, "ref")]
                )
            continue
        prefix, dot, part = name.value.rpartition(".")
        if dot and prefix.rpartition(".")[2].lower().endswith("image"):
            groups.setdefault(prefix, {})[part] = (value_path, value)
    for parts in groups.values():
        helm.split_reference(loc, parts, None, kind="argocd")

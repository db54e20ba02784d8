"""Image mappings of Helm values and their cousins (pure).

- ``image: {repository, tag}`` with optional ``registry`` and ``digest`` (Bitnami); ``name``
  instead of ``repository`` when a ``tag``/``version`` key is there; ``version`` instead of ``tag``;
- ``image: {name: ruby:3.3}`` without a tag key: the whole reference in ``name`` (GitLab CI);
- ``image: {reference: …}`` under ``volumes[i]``: a Kubernetes image volume;
- flat dotted keys in one mapping: ``image.repository: nginx`` + ``image.tag: "1.25"`` (the form
  of Helm ``--set`` overrides written out as YAML).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from bot.core.manifests.found import (
    Found,
    Slot,
    digest_value,
    image_name,
    is_inline_scalar,
    is_value_scalar,
    tag_value,
)
from bot.core.manifests.tree import Path, format_path

if TYPE_CHECKING:
    from bot.core.manifests.locate import Locator

#: parts of a split reference: key (or flat-key suffix) → role
NAME_KEYS = ("repository", "name")
TAG_KEYS = ("tag", "version")


def image_mapping(loc: Locator, node: yaml.MappingNode, path: Path) -> None:
    entries = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    if "reference" in entries and len(path) >= 3 and path[-3] == "volumes" and isinstance(path[-2], int):
        _volume(loc, entries["reference"], (*path, "reference"))
        return
    if "repository" not in entries and "name" in entries and not any(k in entries for k in TAG_KEYS):
        _whole_in_name(loc, entries["name"], (*path, "name"))
        return
    parts = {key: ((*path, key), entries[key]) for key in entries}
    found = split_reference(loc, parts, path, kind=loc.mapping_kind)
    if found is not None:
        found.parent, found.parent_path = node, path
        found.tag_key = found.tag_key or "tag"
        found.digest_key = "digest"


def flat_keys(
    loc: Locator, node: yaml.MappingNode, entries: list[tuple[str, yaml.Node, yaml.Node]], path: Path
) -> None:
    """``image.repository: nginx`` / ``image.tag: "1.25"`` siblings, grouped by their prefix."""
    groups: dict[str, dict[str, tuple[Path, yaml.Node]]] = {}
    for key, _, value in entries:
        prefix, dot, part = key.rpartition(".")
        if dot and prefix.rpartition(".")[2].lower().endswith("image"):
            groups.setdefault(prefix, {})[part] = ((*path, key), value)
    for prefix, parts in groups.items():
        found = split_reference(loc, parts, None, kind=loc.mapping_kind)
        if found is not None:
            found.parent, found.parent_path = node, path
            found.tag_key = f"{prefix}.{found.tag_key or 'tag'}"
            found.digest_key = f"{prefix}.digest"


def split_reference(
    loc: Locator, parts: dict[str, tuple[Path, yaml.Node]], path: Path | None, *, kind: str
) -> Found | None:
    """A reference written as separate ``registry`` / ``repository`` (or ``name``) / ``tag`` (or
    ``version``) / ``digest`` scalars; ``parts`` maps each key to (its path, its node).
    ``path`` is the reference's path (None: its name's)."""
    name_key = next((k for k in NAME_KEYS if k in parts), None)
    if name_key is None:
        return None
    name_path, name_node = parts[name_key]
    if not is_value_scalar(name_node) or not name_node.value:
        return None
    slots = [Slot(name_node, name_path, "name")]
    image = name_node.value
    registry = parts.get("registry")
    if registry is not None and is_value_scalar(registry[1]) and registry[1].value:
        slots.append(Slot(registry[1], registry[0], "registry"))
        image = f"{registry[1].value}/{image}"
    tag = digest = None
    tag_key = next((k for k in TAG_KEYS if k in parts), None)
    if tag_key is not None:
        tag_path, tag_node = parts[tag_key]
        if not is_inline_scalar(tag_node):
            return None
        tag, digest = tag_value(tag_node)
        slots.append(Slot(tag_node, tag_path, "tag"))
    digest_part = parts.get("digest")
    if digest_part is not None and is_inline_scalar(digest_part[1]):
        digest = digest_value(digest_part[1]) or digest
        slots.append(Slot(digest_part[1], digest_part[0], "digest"))
    found = loc.add(kind, path or name_path, image, (tag, digest), slots)  # type: ignore[arg-type]
    if found is None:
        return None
    found.tag_key = tag_key
    if image_name(image) is None and found.placeholder is None:
        found.problem = (
            f"{format_path(name_path)} is not an image name ({name_node.value!r}: a tag or digest "
            "in it, or bad syntax); edit it by hand"
        )
    return found


def _whole_in_name(loc: Locator, node: yaml.Node, path: Path) -> None:
    ref = loc.parse(node)
    if ref is None or (not loc.ci and ref.tag is None and ref.digest is None):
        return
    assert isinstance(node, yaml.ScalarNode)
    loc.add(loc.mapping_kind, path, ref.name, (ref.tag, ref.digest), [Slot(node, path, "ref")])


def _volume(loc: Locator, node: yaml.Node, path: Path) -> None:
    ref = loc.parse(node)
    if ref is not None:
        assert isinstance(node, yaml.ScalarNode)
        loc.add("volume", path, ref.name, (ref.tag, ref.digest), [Slot(node, path, "ref")])

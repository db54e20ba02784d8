"""Kustomize ``images:`` entries (a kustomization's top level, or a Flux Kustomization's
``spec.images``): ``name`` picks the images to change, ``newName`` / ``newTag`` / ``digest`` say
what they become (pure).

Kustomize writes ``newName`` (else the matched name) + ``:newTag`` + ``@digest``, keeping the
matched image's tag when neither is set. So ``name`` is never edited; a ``newName`` carrying its
own tag or digest (``ghcr.io/acme/web:1.0``) is edited in place when it is the only version there
is, and refused when ``newTag``/``digest`` is set too (kustomize would write ``name:1.0:2.0``).
``newTag: 11@sha256:…`` is a tag and a digest in one value and stays that way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from bot.core.manifests.found import Slot, Version, digest_value, is_inline_scalar, tag_value
from bot.core.manifests.tree import Path, format_path

if TYPE_CHECKING:
    from bot.core.manifests.locate import Locator


def images(loc: Locator, node: yaml.SequenceNode, path: Path) -> None:
    for i, item in enumerate(node.value):
        if isinstance(item, yaml.MappingNode):
            _item(loc, item, (*path, i))


def _item(loc: Locator, node: yaml.MappingNode, path: Path) -> None:
    entries = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
    name = entries.get("name")
    matched = loc.parse(name)
    if matched is None or not isinstance(name, yaml.ScalarNode):
        return
    slots = [Slot(name, (*path, "name"), "match")]
    image, version = matched.name, (matched.tag, matched.digest)
    new_name = entries.get("newName")
    renamed = loc.parse(new_name) if new_name is not None else None
    problem = None
    if isinstance(new_name, yaml.ScalarNode) and renamed is None:
        problem = (
            f"{format_path((*path, 'newName'))} is not an image name ({new_name.value!r}); edit it by hand"
        )
    new_tag, digest = entries.get("newTag"), entries.get("digest")
    explicit = [n for n in (new_tag, digest) if is_inline_scalar(n)]
    if renamed is not None and isinstance(new_name, yaml.ScalarNode):
        image = renamed.name
        embedded = renamed.tag is not None or renamed.digest is not None
        slots.append(Slot(new_name, (*path, "newName"), "ref" if embedded else "name"))
        if embedded:
            version = (renamed.tag, renamed.digest)
            if explicit:
                problem = (
                    f"{format_path((*path, 'newName'))} carries a tag or digest and newTag/digest is set "
                    "too: kustomize would write an invalid image; fix it by hand"
                )
    if explicit:
        version = _explicit_version(slots, path, new_tag, digest)
    found = loc.add("kustomize", path, image, version, slots)
    if found is None:
        return
    found.parent, found.parent_path, found.problem = node, path, problem
    if found.slot("ref") is None:
        found.tag_key, found.digest_key = "newTag", "digest"
    found.name_key = "newName"


def _explicit_version(
    slots: list[Slot], path: Path, new_tag: yaml.Node | None, digest: yaml.Node | None
) -> Version:
    tag = embedded = None
    if isinstance(new_tag, yaml.ScalarNode) and is_inline_scalar(new_tag):
        tag, embedded = tag_value(new_tag)
        slots.append(Slot(new_tag, (*path, "newTag"), "tag"))
    written = None
    if isinstance(digest, yaml.ScalarNode) and is_inline_scalar(digest):
        written = digest_value(digest)
        slots.append(Slot(digest, (*path, "digest"), "digest"))
    return tag, written or embedded

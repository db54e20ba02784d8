"""JSON 6902 patches (a kustomization's ``patchesJson6902`` / ``patches`` operations, inline or in
a file of their own): ``- {op: replace, path: /spec/template/spec/containers/0/image, value: …}``
(pure).

An ``add`` or ``replace`` whose pointer ends in ``image`` (or an ``…Image`` key) sets an image;
its ``value`` is the reference, of the kind the pointer's place gives (a container's ``image`` is
a ``container`` reference). A ``value`` that is a whole object (a container added) is found by
the ordinary shapes under ``[i].value``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

from bot.core.manifests.found import Slot
from bot.core.manifests.tree import Path

if TYPE_CHECKING:
    from bot.core.manifests.locate import Locator

_SETS = frozenset({"add", "replace"})


def pointer(text: str) -> Path | None:
    """A JSON pointer (RFC 6901) as path segments (digits as list indexes), None if not one."""
    if not text.startswith("/"):
        return None
    segs = [s.replace("~1", "/").replace("~0", "~") for s in text[1:].split("/")]
    return tuple(int(s) if s.isdigit() else s for s in segs)


def operations(loc: Locator, root: yaml.SequenceNode) -> None:
    """The image values a document of JSON 6902 operations sets."""
    for i, item in enumerate(root.value):
        if not isinstance(item, yaml.MappingNode):
            continue
        entries = {k.value: v for k, v in item.value if isinstance(k, yaml.ScalarNode)}
        op, where, value = entries.get("op"), entries.get("path"), entries.get("value")
        if not (isinstance(op, yaml.ScalarNode) and op.value in _SETS and isinstance(where, yaml.ScalarNode)):
            continue
        segs = pointer(where.value)
        if not segs or not isinstance(value, yaml.ScalarNode) or not isinstance(segs[-1], str):
            continue
        key = segs[-1]
        if not loc.image_key(key, segs[:-1]):
            continue
        ref = loc.parse(value)
        named = key.lower() == "image"
        if ref is None or (not named and ref.tag is None and ref.digest is None):
            continue
        path = (i, "value")
        loc.add(loc.string_kind(segs[:-1]), path, ref.name, (ref.tag, ref.digest), [Slot(value, path, "ref")])

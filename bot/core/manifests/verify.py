"""Re-parse check: which paths differ in data between two versions of a document (pure)."""

from __future__ import annotations

import yaml

from bot.core.manifests.tree import Path, Seg, pairs


def data_diff(old: yaml.Node, new: yaml.Node) -> set[Path]:
    """Paths whose loaded data differs (type or value); a missing/extra key is reported by its path.

    Quoting and layout are not data: ``"1.2"`` and ``'1.2'`` are equal, ``1.2`` and ``"1.2"`` are
    not (float vs string). A node shared through an alias is compared once.
    """
    out: set[Path] = set()
    _diff(old, new, [], out, set())
    return out


def _diff(a: yaml.Node, b: yaml.Node, path: list[Seg], out: set[Path], done: set[tuple[int, int]]) -> None:
    if a.__class__ is not b.__class__:
        out.add(tuple(path))
        return
    if isinstance(a, yaml.ScalarNode):
        if a.tag != b.tag or a.value != b.value:
            out.add(tuple(path))
        return
    pair = (id(a), id(b))
    if pair in done:
        return
    done.add(pair)
    if isinstance(a, yaml.SequenceNode):
        if len(a.value) != len(b.value):
            out.add(tuple(path))
            return
        for i, (x, y) in enumerate(zip(a.value, b.value, strict=True)):
            path.append(i)
            _diff(x, y, path, out, done)
            path.pop()
        return
    if a.tag != b.tag:
        out.add(tuple(path))
        return
    left = {k: v for k, _, v in pairs(a)}
    right = {k: v for k, _, v in pairs(b)}
    for key in left.keys() | right.keys():
        path.append(key)
        if key in left and key in right:
            _diff(left[key], right[key], path, out, done)
        else:
            out.add(tuple(path))
        path.pop()

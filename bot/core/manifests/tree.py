"""Walking YAML node trees by path, with merge keys, aliases and the checks on them (pure).

A path is a tuple of segments (``str`` keys, ``int`` list indexes), written as
``spec.template.spec.containers[0].image``; a key with ``.``, ``[``, ``]`` or ``"`` in it is
written ``["a.b/c"]``. ``<<`` merge keys are followed: merged entries appear under the merging
mapping's path, so one scalar reached through an anchor has several paths.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

import yaml

from bot.core.manifests.budget import MERGE_TAG
from bot.errors import ManifestError

Seg = str | int
Path = tuple[Seg, ...]

_MERGED = "_manifest_bot_merged"  # where pairs() remembers a merging mapping's entries
_PLAIN_KEY = re.compile(r"[^.\[\]\"]+")
_SEGMENT = re.compile(r'\.?(?:(?P<key>[^.\[\]"]+)|\[(?P<index>\d+)\]|\[(?P<quoted>"(?:[^"\\]|\\.)*")\])')


def format_path(path: Path) -> str:
    out: list[str] = []
    for seg in path:
        if isinstance(seg, int):
            out.append(f"[{seg}]")
        elif _PLAIN_KEY.fullmatch(seg):
            out.append(f".{seg}" if out else seg)
        else:
            out.append(f"[{json.dumps(seg)}]")
    return "".join(out)


def parse_path(text: str) -> Path:
    """Inverse of :func:`format_path`; raise ValueError on a malformed path."""
    segs: list[Seg] = []
    pos = 0
    while pos < len(text):
        m = _SEGMENT.match(text, pos)
        if not m or (m.group(0).startswith(".") and pos == 0):
            raise ValueError(f"malformed path {text!r} at character {pos + 1}")
        if m["key"] is not None:
            segs.append(m["key"])
        elif m["index"] is not None:
            segs.append(int(m["index"]))
        else:
            segs.append(json.loads(m["quoted"]))
        pos = m.end()
    if not segs:
        raise ValueError("empty path")
    return tuple(segs)


def key_of(node: yaml.Node) -> str:
    if isinstance(node, yaml.ScalarNode):
        return node.value
    return f"<{node.id}@{node.start_mark.line + 1}>"  # complex keys: unique, never a real match


def pairs(node: yaml.MappingNode) -> list[tuple[str, yaml.Node, yaml.Node]]:
    """The mapping's effective entries: explicit keys first, then merged keys not overridden.

    A mapping with ``<<`` keys is resolved once and remembered on the node, so a merge source
    shared by many mappings costs its size once, not once per use (the document's budget was
    checked before, see ``bot.core.manifests.budget``)."""
    explicit: list[tuple[str, yaml.Node, yaml.Node]] = []
    merges: list[yaml.Node] = []
    for k, v in node.value:
        if k.tag == MERGE_TAG:
            merges.append(v)
        else:
            explicit.append((key_of(k), k, v))
    if not merges:
        return explicit
    cached = node.__dict__.get(_MERGED)
    if cached is not None:
        return cached
    seen = {k for k, _, _ in explicit}
    out = list(explicit)
    for merge in merges:
        sources = merge.value if isinstance(merge, yaml.SequenceNode) else [merge]
        for src in sources:
            if not isinstance(src, yaml.MappingNode):
                continue
            for k, knode, v in pairs(src):
                if k not in seen:
                    seen.add(k)
                    out.append((k, knode, v))
    node.__dict__[_MERGED] = out
    return out


def check_duplicates(node: yaml.MappingNode, file: str) -> None:
    seen: set[tuple[str, str]] = set()
    for k, _ in node.value:
        if not isinstance(k, yaml.ScalarNode) or k.tag == MERGE_TAG:
            continue
        ident = (k.tag, k.value)
        if ident in seen:
            raise ManifestError(f"duplicate key {k.value!r}", file=file, line=k.start_mark.line + 1)
        seen.add(ident)


#: called with (node, path, entries); ``path`` is a live list (copy it to keep it) and ``entries`` is
#: ``pairs(node)`` for a mapping, else None
Visitor = Callable[[yaml.Node, list[Seg], list[tuple[str, yaml.Node, yaml.Node]] | None], None]


class Walker:
    """Depth-first walk over every (node, path), following aliases and merges.

    Only call it on a document whose expansion was checked (``bot.core.manifests.loader.compose``
    does): that bounds the visits and rules out recursive aliases."""

    def __init__(self, file: str, visit: Visitor) -> None:
        self.file = file
        self.visit = visit

    def walk(self, root: yaml.Node) -> None:
        try:
            self._walk(root, [])
        except RecursionError:
            raise ManifestError("document nested too deeply", file=self.file) from None

    def _walk(self, node: yaml.Node, path: list[Seg]) -> None:
        if isinstance(node, yaml.ScalarNode):
            self.visit(node, path, None)
            return
        if isinstance(node, yaml.SequenceNode):
            self.visit(node, path, None)
            for i, item in enumerate(node.value):
                path.append(i)
                self._walk(item, path)
                path.pop()
            return
        check_duplicates(node, self.file)
        entries = pairs(node)
        self.visit(node, path, entries)
        for k, _, v in entries:
            path.append(k)
            self._walk(v, path)
            path.pop()


def child(node: yaml.Node, seg: Seg) -> yaml.Node | None:
    if isinstance(seg, int):
        if isinstance(node, yaml.SequenceNode) and 0 <= seg < len(node.value):
            return node.value[seg]
        return None
    if isinstance(node, yaml.MappingNode):
        for k, _, v in pairs(node):
            if k == seg:
                return v
    return None


def lookup(root: yaml.Node, path: Path) -> yaml.Node | None:
    node: yaml.Node | None = root
    for seg in path:
        if node is None:
            return None
        node = child(node, seg)
    return node


def iter_scalars(root: yaml.Node) -> Iterator[yaml.ScalarNode]:
    """Every distinct scalar node once (aliases not followed twice)."""
    stack = [root]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            yield node
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        else:
            for k, v in node.value:
                stack.append(k)
                stack.append(v)


def walk_paths(root: yaml.Node, targets: set[int], file: str) -> dict[int, list[Path]]:
    """Every path at which each target node is reached (more than one through aliases/merges)."""
    found: dict[int, list[Path]] = {}

    def visit(node: yaml.Node, path: list[Seg], _entries: object) -> None:
        if id(node) in targets:
            found.setdefault(id(node), []).append(tuple(path))

    Walker(file, visit).walk(root)
    return found

"""Kustomize patches written inside a kustomization: the YAML (or JSON) text of a patch held in a
string scalar, read as a document of its own and mapped back onto the kustomization's text (pure).

Kustomize takes a patch inline as a string: ``patches[i].patch`` (strategic merge or JSON 6902),
``patchesStrategicMerge[i]`` and ``patchesJson6902[i].patch`` (also under a Flux Kustomization's
``spec``). The string is usually a literal block scalar (``patch: |-``), sometimes one quoted or
plain line (``patch: '[{"op": "replace", …}]'``). Its text is the scalar's lines less their
indentation, line breaks as written, so that a position inside the patch maps to one position in
the file and a one-line edit inside it is one splice of the file. A scalar whose text cannot be
mapped exactly (a folded ``>`` scalar, an explicit indentation indicator, escapes, a line folded
across lines) is not read as a patch, and says so.

A reference inside a patch has a two-part path: the patch scalar's path, ``|``, the path inside
the patch (``patches[0].patch|[0].value``, ``patchesStrategicMerge[1]|spec.template.spec
.containers[0].image``); a patch of several ``---`` documents adds the document index
(``patchesStrategicMerge[0]|1|spec…``).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

import yaml

from bot.core.manifests.found import STR_TAG, value_start
from bot.core.manifests.loader import Parsed
from bot.core.manifests.tree import Path, format_path, lookup, parse_path

SEP = "|"
_FLUX = "kustomize.toolkit.fluxcd.io/"
_LINE = re.compile("[^\r\n\x85\u2028\u2029]*(?:\r\n|[\r\n\x85\u2028\u2029]|\\Z)")
_HEADER = re.compile(r"\|([+-]?)[ \t]*(?:#[^\r\n]*)?(?:\r\n|[\r\n\x85\u2028\u2029])")
_BREAKS = re.compile("\r\n|[\r\x85]")
#: where a kustomization holds patches, and the key of an item's patch text (None: the item is it)
_LISTS = (("patches", "patch"), ("patchesJson6902", "patch"), ("patchesStrategicMerge", None))


@dataclass(frozen=True, slots=True)
class Patch:
    """One inline patch: where its scalar is, and its text with a map back to the file."""

    doc: int
    path: Path  # of the scalar in the kustomization
    node: yaml.ScalarNode
    text: str  # the patch as its own YAML text
    #: per line of ``text``: (index in text, index in the file, index of the file line's start)
    lines: tuple[tuple[int, int, int], ...]
    first_line: int  # 0-based file line of the patch's first line

    @property
    def label(self) -> str:
        return format_path(self.path)

    def position(self, index: int) -> int:
        """The file index of ``text[index]`` (``index`` may be ``len(text)``)."""
        row = bisect.bisect_right(self.lines, (index, float("inf"), 0)) - 1
        inner, outer, _ = self.lines[row]
        return outer + (index - inner)

    def line_column(self, index: int) -> tuple[int, int]:
        """1-based file line and column of ``text[index]``."""
        row = bisect.bisect_right(self.lines, (index, float("inf"), 0)) - 1
        inner, outer, start = self.lines[row]
        return self.first_line + row + 1, outer + (index - inner) - start + 1

    def line(self, inner_line: int | None) -> int | None:
        """The file line (1-based) of the patch's 1-based line ``inner_line``."""
        return None if inner_line is None else self.first_line + inner_line


def join(patch_path: str, inner_doc: int, inner_path: str) -> str:
    """The two-part path of a reference inside a patch."""
    middle = f"{SEP}{inner_doc}" if inner_doc else ""
    return f"{patch_path}{middle}{SEP}{inner_path}"


def split(path: str) -> tuple[str, int, str] | None:
    """(patch path, document inside the patch, path inside it) of a two-part path, else None.
    Raise ValueError for a malformed one."""
    if SEP not in path:
        return None
    parts = path.split(SEP)
    if len(parts) == 3 and parts[1].isdigit():
        outer, doc, inner = parts[0], int(parts[1]), parts[2]
    elif len(parts) == 2:
        outer, doc, inner = parts[0], 0, parts[1]
    else:
        raise ValueError(f"malformed path {path!r}: write PATCH|PATH or PATCH|DOC|PATH")
    return format_path(parse_path(outer)), doc, format_path(parse_path(inner))


def normalise(path: str) -> str:
    """A path in its canonical spelling (one-part or two-part)."""
    parts = split(path)
    if parts is None:
        return format_path(parse_path(path))
    return join(*parts)


def _is_kustomization(root: yaml.MappingNode) -> tuple[bool, bool]:
    """(a kustomization document, a Flux Kustomization)."""
    keys = {k.value: v for k, v in root.value if isinstance(k, yaml.ScalarNode)}
    kind = keys.get("kind")
    api = keys.get("apiVersion")
    kind_value = kind.value if isinstance(kind, yaml.ScalarNode) else None
    api_value = api.value if isinstance(api, yaml.ScalarNode) else ""
    if kind_value == "Kustomization" and api_value.startswith(_FLUX):
        return False, True
    return kind_value in (None, "Kustomization", "Component"), False


def _candidates(root: yaml.Node) -> list[Path]:
    if not isinstance(root, yaml.MappingNode):
        return []
    plain, flux = _is_kustomization(root)
    if not (plain or flux):
        return []
    base: Path = ("spec",) if flux else ()
    out: list[Path] = []
    for key, item_key in _LISTS:
        items = lookup(root, (*base, key))
        if not isinstance(items, yaml.SequenceNode):
            continue
        for i, item in enumerate(items.value):
            if item_key is None and isinstance(item, yaml.ScalarNode):
                out.append((*base, key, i))
            elif item_key is not None and isinstance(item, yaml.MappingNode):
                out.append((*base, key, i, item_key))
    return out


def find(parsed: Parsed) -> tuple[list[Patch], list[str]]:
    """The inline patches of every kustomization document, and a note per patch string that could
    not be mapped (left alone)."""
    patches: list[Patch] = []
    notes: list[str] = []
    for doc, root in parsed.documents():
        for path in _candidates(root):
            node = lookup(root, path)
            if not isinstance(node, yaml.ScalarNode) or node.tag != STR_TAG:
                continue
            if node.style is None and "\n" not in node.value and ":" not in node.value:
                continue  # a file name (patchesStrategicMerge: [patch.yaml]): a file of its own
            patch = _extract(parsed, doc, path, node)
            if patch is None and "image" in node.value:
                notes.append(
                    f"{node.start_mark.line + 1}: {format_path(path)}: a patch written this way "
                    "(folded, escaped or with an indentation indicator) is not read; write it as a "
                    "literal block (`patch: |-`) to have its images found"
                )
            elif patch is not None:
                patches.append(patch)
    return patches, notes


def text_of(parsed: Parsed, doc: int, path: Path) -> str | None:
    """The patch text of the scalar at ``path`` (None when there is none or it cannot be mapped)."""
    root = parsed.roots[doc] if 0 <= doc < len(parsed.roots) else None
    node = lookup(root, path) if root is not None else None
    if not isinstance(node, yaml.ScalarNode):
        return None
    patch = _extract(parsed, doc, path, node)
    return None if patch is None else patch.text


def _extract(parsed: Parsed, doc: int, path: Path, node: yaml.ScalarNode) -> Patch | None:
    if node.style == "|":
        return _literal(parsed, doc, path, node)
    if node.style == ">" or node.start_mark.line != node.end_mark.line:
        return None
    start, end = value_start(parsed, node), node.end_mark.index + parsed.offset
    quoted = node.style in ("'", '"')
    inner_start = start + 1 if quoted else start
    raw = parsed.text[inner_start : end - 1 if quoted else end]
    if raw != node.value:  # escapes (`''`, `\"`) do not map one to one
        return None
    line_start = node.start_mark.index + parsed.offset - node.start_mark.column
    return Patch(doc, path, node, raw, ((0, inner_start, line_start),), node.start_mark.line)


def _literal(parsed: Parsed, doc: int, path: Path, node: yaml.ScalarNode) -> Patch | None:
    text = parsed.text
    start, end = value_start(parsed, node), node.end_mark.index + parsed.offset
    header = _HEADER.match(text, start)
    if header is None:  # an indentation indicator, or content on the header line
        return None
    pos = header.end()
    lines = [m for m in _LINE.finditer(text, pos, end) if m.group()]
    indent = next((len(m.group()) - len(m.group().lstrip(" ")) for m in lines if m.group().strip()), 0)
    pieces: list[str] = []
    rows: list[tuple[int, int, int]] = []
    size = 0
    for m in lines:
        line = m.group()
        cut = min(indent, len(line) - len(line.lstrip(" ")))
        rows.append((size, m.start() + cut, m.start()))
        pieces.append(line[cut:])
        size += len(line) - cut
    inner = "".join(pieces)
    if _BREAKS.sub("\n", inner).rstrip("\n") != node.value.rstrip("\n") or not rows:
        return None
    first = node.start_mark.line + 1
    return Patch(doc, path, node, inner, tuple(rows), first)

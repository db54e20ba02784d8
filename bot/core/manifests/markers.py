"""Setter markers: ``# {"$imagepolicy": "ns:name[:tag|:name|:digest]"}`` (Flux) and our own
``# {"$manifest-bot": "ns:name[:…]"}`` of the same shape, on the line of the value they mark (pure).

Without a suffix the marked value is a whole image reference; ``:tag``, ``:name`` and ``:digest``
mark its parts. A marker on a value the locator already found (a container image, a Helm tag)
sets that reference's ``marker``; other marked values become references of kind ``marker``,
with the parts of one policy in one document joined into one reference.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import replace

import yaml

from bot.core.images import parse_image
from bot.core.manifests.found import Found, Role, Slot, digest_value, is_value_scalar, make_found, tag_value
from bot.core.manifests.loader import BREAKS, Parsed
from bot.core.manifests.tree import Path, Seg, Walker
from bot.errors import InvalidReference

MARKER_KEYS = ("$imagepolicy", "$manifest-bot")
_MARKER_RE = re.compile(r'#\s*\{\s*"\$(?:imagepolicy|manifest-bot)"\s*:\s*"([^"\s]+)"\s*\}')
_SUFFIX_ROLES: dict[str, Role] = {"tag": "tag", "name": "name", "digest": "digest"}


def _parse_marker(value: str) -> tuple[str, Role] | None:
    parts = value.split(":")
    if len(parts) == 2 and all(parts):
        return value, "ref"
    if len(parts) == 3 and all(parts[:2]) and parts[2] in _SUFFIX_ROLES:
        return f"{parts[0]}:{parts[1]}", _SUFFIX_ROLES[parts[2]]
    return None


def _markers(text: str) -> list[tuple[int, str, Role]]:
    """(index of '#', "ns:name", role) of every well-formed marker, in text order."""
    out: list[tuple[int, str, Role]] = []
    for m in _MARKER_RE.finditer(text):
        parsed = _parse_marker(m[1])
        if parsed is not None:
            out.append((m.start(), *parsed))
    return out


def _marked_scalars(
    parsed: Parsed, file: str, markers: list[tuple[int, str, Role]], wanted: set[int] | None
) -> list[tuple[int, yaml.ScalarNode, Path, str, Role]]:
    """(doc, node, path, marker, role) for the last value scalar before each marker on its line.

    "On its line" means no line break between the value's end and the ``#``, counting every
    break libyaml counts (``\\n``, ``\\r``, NEL, U+2028, U+2029): a marker never jumps to a
    value on an earlier line when an earlier value holds one of those characters."""
    starts = [m[0] for m in markers]
    text = parsed.text
    best: dict[int, tuple[int, yaml.ScalarNode, Path]] = {}
    for doc, root in parsed.documents():
        if wanted is not None and doc not in wanted:
            continue

        def visit(node: yaml.Node, path: list[Seg], _e: object, doc: int = doc) -> None:
            if not isinstance(node, yaml.ScalarNode):
                return
            end = node.end_mark.index + parsed.offset
            i = bisect.bisect_left(starts, end)
            if i == len(starts) or any(c in BREAKS for c in text[end : starts[i]]):
                return
            current = best.get(i)
            if current is None or current[1].end_mark.index < node.end_mark.index:
                best[i] = (doc, node, tuple(path))

        Walker(file, visit).walk(root)
    return [(doc, node, path, *markers[i][1:]) for i, (doc, node, path) in sorted(best.items())]


def attach_markers(
    parsed: Parsed, file: str, found: list[Found], wanted: set[int] | None = None
) -> list[Found]:
    """Set ``marker`` on found references carrying one; add the marked values no shape found."""
    if not any(key in parsed.text for key in MARKER_KEYS):
        return found
    markers = _markers(parsed.text)
    if not markers:
        return found
    by_node = {id(slot.node): f for f in found for slot in f.slots}
    groups: dict[tuple[int, str], list[Slot]] = {}
    extra: list[Found] = []
    for doc, node, path, marker, role in _marked_scalars(parsed, file, markers, wanted):
        owner = by_node.get(id(node))
        if owner is not None:
            if owner.ref.marker is None:
                owner.ref = replace(owner.ref, marker=marker)
            continue
        if node.style in ("|", ">") or (role != "tag" and not is_value_scalar(node)):
            continue
        if role == "ref":
            try:
                ref = parse_image(node.value)
            except InvalidReference:
                continue
            made = make_found(
                parsed,
                file,
                doc,
                kind="marker",
                path=path,
                image=ref.name,
                version=(ref.tag, ref.digest),
                slots=[Slot(node, path, "ref")],
            )
            made.ref = replace(made.ref, marker=marker)
            extra.append(made)
        else:
            groups.setdefault((doc, marker), []).append(Slot(node, path, role))
    for (doc, marker), slots in groups.items():
        extra.append(_part_reference(parsed, file, doc, marker, slots))
    return [*found, *extra]


def _part_reference(parsed: Parsed, file: str, doc: int, marker: str, slots: list[Slot]) -> Found:
    image, tag, digest = "", None, None
    for slot in slots:
        if slot.role == "name":
            image = slot.node.value
        elif slot.role == "tag":
            tag, embedded = tag_value(slot.node)
            digest = digest or embedded
        elif slot.role == "digest":
            digest = digest_value(slot.node) or digest
    made = make_found(
        parsed, file, doc, kind="marker", path=slots[0].path, image=image, version=(tag, digest), slots=slots
    )
    made.ref = replace(made.ref, marker=marker)
    return made

"""What the locator finds: a public Reference plus the scalar slots an edit may rewrite (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import yaml

from bot.core.images import DIGEST_RE
from bot.core.manifests.loader import Parsed
from bot.core.manifests.model import Reference, RefKind
from bot.core.manifests.tree import Path, format_path

Role = Literal["ref", "tag", "digest", "name"]
STR_TAG = "tag:yaml.org,2002:str"
NULL_TAG = "tag:yaml.org,2002:null"
_PROPERTIES = re.compile(r"(?:[&!][^\s,\[\]{}]*[ \t]+)+")


@dataclass(slots=True)
class Slot:
    """One scalar of a reference. ``prefix`` is kept verbatim (Argo CD's ``old=new`` form)."""

    node: yaml.ScalarNode
    path: Path
    role: Role
    prefix: str = ""


@dataclass(slots=True)
class Found:
    ref: Reference
    slots: list[Slot]
    parent: yaml.MappingNode | None = None  # where missing keys are inserted
    parent_path: Path = ()
    tag_key: str | None = None
    digest_key: str | None = None

    def slot(self, role: Role) -> Slot | None:
        return next((s for s in self.slots if s.role == role), None)


def is_value_scalar(node: yaml.Node) -> bool:
    """A single plain or quoted string scalar (never a block scalar)."""
    return isinstance(node, yaml.ScalarNode) and node.style not in ("|", ">") and node.tag == STR_TAG


def split_tag_digest(value: str) -> tuple[str | None, str | None]:
    """Read a tag-ish scalar: ``1.2``, ``1.2@sha256:…`` or a bare ``sha256:…`` digest."""
    if "@" in value:
        tag, _, digest = value.partition("@")
        return tag or None, digest or None
    if DIGEST_RE.fullmatch(value):
        return None, value
    return value or None, None


def value_start(parsed: Parsed, node: yaml.Node) -> int:
    """Index of the scalar's first character, after any ``&anchor``/``!tag`` properties."""
    start = node.start_mark.index + parsed.offset
    if parsed.text[start : start + 1] in ("&", "!"):
        m = _PROPERTIES.match(parsed.text, start)
        if m:
            return m.end()
    return start


def span(parsed: Parsed, node: yaml.Node) -> tuple[int, int]:
    return value_start(parsed, node), node.end_mark.index + parsed.offset


def make_found(
    parsed: Parsed,
    file: str,
    doc: int,
    *,
    kind: RefKind,
    path: Path,
    image: str,
    version: tuple[str | None, str | None],
    slots: list[Slot],
) -> Found:
    """Build a Found whose Reference points at the first slot's value."""
    start = value_start(parsed, slots[0].node)
    mark = slots[0].node.start_mark
    ref = Reference(
        file=file,
        doc=doc,
        path=format_path(path),
        kind=kind,
        line=mark.line + 1,
        column=mark.column + 1 + (start - mark.index - parsed.offset),
        image=image,
        tag=version[0],
        digest=version[1],
        spans=tuple(span(parsed, s.node) for s in slots),
    )
    return Found(ref=ref, slots=slots)

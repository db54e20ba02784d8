"""What the locator finds: a public Reference plus the scalar slots an edit may rewrite (pure).

A reference is made of one or more scalar *slots*, each with a role:

- ``ref``: a whole ``name[:tag][@digest]`` string (after a verbatim ``prefix``, Argo CD's ``alias=``);
- ``name`` / ``registry``: the repository and registry host of a split reference (Helm, Kustomize
  ``newName``, Flux ``:name`` markers);
- ``tag``: a tag, a ``tag@digest`` or a bare digest;
- ``digest``: a digest (or an empty value);
- ``match``: Kustomize's ``name``, which says which images the entry applies to and is never edited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import yaml

from bot.core.images import DIGEST_RE, parse_image
from bot.core.manifests.loader import Parsed
from bot.core.manifests.model import Reference, RefKind
from bot.core.manifests.tree import Path, format_path
from bot.errors import InvalidReference

Role = Literal["ref", "name", "registry", "tag", "digest", "match"]
Version = tuple[str | None, str | None]
STR_TAG = "tag:yaml.org,2002:str"
NULL_TAG = "tag:yaml.org,2002:null"
_PROPERTIES = re.compile(r"(?:[&!][^\s,\[\]{}]*[ \t]+)+")
#: values another tool fills in: ALL_CAPS words, ${VAR}, $VAR, {{ … }}, <…>, %VAR%
_PLACEHOLDER = re.compile(
    r"""(?x)
    (?:[A-Z][A-Z0-9]*_[A-Z0-9_]*|[A-Z]{2,})\Z      # CONTAINER_IMAGES_TAG, TAG (not V1, RC1)
    |.*(?:\$\{|\$[A-Za-z_]|\{\{|\}\}|<[^<>]*>|%[A-Za-z_]+%)
    """
)


def placeholder(value: str) -> bool:
    """True when a name or tag value is a placeholder another tool substitutes, never a version."""
    return bool(value) and _PLACEHOLDER.match(value) is not None


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
    tag_key: str | None = None  # key to add for a missing tag (None: the tag cannot be added)
    digest_key: str | None = None
    name_key: str | None = None  # key to add for a rename (Kustomize newName)
    placeholder: str | None = None  # the placeholder value, when a slot holds one
    problem: str | None = None  # why this reference cannot be edited safely, if it cannot

    def slot(self, role: Role) -> Slot | None:
        return next((s for s in self.slots if s.role == role), None)

    def paths(self) -> set[Path]:
        """The reference's path and its slots' paths: what ``--path`` may name to select it."""
        return {s.path for s in self.slots}


def is_value_scalar(node: yaml.Node) -> bool:
    """A single plain or quoted string scalar (never a block scalar)."""
    return isinstance(node, yaml.ScalarNode) and node.style not in ("|", ">") and node.tag == STR_TAG


def is_inline_scalar(node: yaml.Node | None) -> bool:
    """A plain or quoted scalar of any type (a ``~``, a number, a string), never a block scalar."""
    return isinstance(node, yaml.ScalarNode) and node.style not in ("|", ">")


def split_tag_digest(value: str) -> Version:
    """Read a tag-ish scalar: ``1.2``, ``1.2@sha256:…`` or a bare ``sha256:…`` digest."""
    if "@" in value:
        tag, _, digest = value.partition("@")
        return tag or None, digest or None
    if DIGEST_RE.fullmatch(value):
        return None, value
    return value or None, None


def tag_value(node: yaml.ScalarNode) -> Version:
    """A tag slot's version: ``~``/empty is none, a plain ``1.16`` (a float) is still the tag."""
    if node.tag == NULL_TAG:
        return None, None
    if node.tag == STR_TAG:
        return split_tag_digest(node.value)
    return node.value, None


def digest_value(node: yaml.ScalarNode) -> str | None:
    """A digest slot's value: ``~``, empty or anything that is not a digest reads as none."""
    return node.value if node.tag == STR_TAG and DIGEST_RE.fullmatch(node.value) else None


def image_name(value: str) -> str | None:
    """The repository written in a name slot, or None when it is not one (a tag in it, bad syntax)."""
    try:
        ref = parse_image(value)
    except InvalidReference:
        return None
    return ref.name if ref.tag is None and ref.digest is None else None


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
    version: Version,
    slots: list[Slot],
    repository: str | None = None,
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
        repository=repository,
    )
    found = Found(ref=ref, slots=slots)
    for value in (image, version[0] or ""):
        if placeholder(value):
            found.placeholder = value
    for s in slots:
        if s.role in ("name", "registry", "tag") and placeholder(s.node.value):
            found.placeholder = s.node.value
    return found

"""Turn one Edit on one found reference into text splices, or refuse it (pure).

A plan says what the reference must read as afterwards (``Plan.expected``); ``bot.core.manifests
.verify`` checks exactly that on the re-parsed result.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import yaml

from bot.core.images import canonical_name, parse_image
from bot.core.manifests.found import Found, Slot, Version, digest_value, span
from bot.core.manifests.loader import Parsed
from bot.core.manifests.model import Edit
from bot.core.manifests.quoting import render
from bot.core.manifests.tree import Path
from bot.errors import UnsafeEdit

_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


class Skipped(Exception):
    """A matched reference left alone on purpose; the message says why."""

    def __init__(self, message: str, *, placeholder: bool = False) -> None:
        super().__init__(message)
        self.placeholder = placeholder


@dataclass(frozen=True, slots=True)
class Splice:
    """Replace ``text[start:end]`` with ``new_text``; ``node`` is None for an inserted key."""

    start: int
    end: int
    new_text: str
    doc: int
    path: Path
    old: str
    new: str
    node: yaml.Node | None
    image: str
    seq: int = 0
    #: a splice inside an inline patch: the patch text it belongs to after the edit, and the
    #: two-part path of the value (``path`` and ``node`` are then the patch scalar's)
    inner: str | None = None
    label: str = ""
    chart: str = ""  # the chart, for a chart reference's version (``image`` is then empty)


@dataclass(frozen=True, slots=True)
class Plan:
    splices: list[Splice]
    expected: tuple[str, str | None, str | None]  # (image as written, tag, digest) afterwards


class Planner:
    def __init__(self, parsed: Parsed, file: str, preferred_quote: Callable[[], str]) -> None:
        self.parsed = parsed
        self.file = file
        self.preferred_quote = preferred_quote

    def plan(self, found: Found, e: Edit) -> Plan:
        ref = found.ref
        name = self._new_name(found, e)
        tag, digest = self._new_version(found, e)
        expected = (name or ref.image, tag, digest)
        if name is None and (tag, digest) == (ref.tag, ref.digest):
            return Plan([], expected)
        if found.placeholder is not None:
            raise Skipped(
                f"{found.placeholder!r} is a placeholder another tool fills in; left alone", placeholder=True
            )
        if found.problem is not None:
            raise UnsafeEdit(found.problem, file=self.file, line=ref.line)
        if ref.tag is None and tag is not None and not e.insert:
            raise Skipped("no tag is written there; a tag is added only in files a target lists")
        embed = self._embed(found)
        registry = found.slot("registry") is not None
        out: list[Splice] = []
        for slot in found.slots:
            value = self._slot_value(slot, name, (tag, digest), embed=embed, registry=registry)
            if value is not None and value != slot.node.value:
                out.append(self._replace(found, slot, value))
        out.extend(self._inserts(found, e, name, (tag, digest), embed))
        return Plan(out, expected)

    # --- what the reference becomes -------------------------------------------------------------
    def _new_name(self, found: Found, e: Edit) -> str | None:
        """The new name for a rename, None to keep the name; refuse a foreign image without one."""
        ref = found.ref
        if e.image is None or not ref.image:
            return None  # the name is not written here (a `:tag` marker, a tag chosen by path)
        try:
            same = canonical_name(ref.image) == canonical_name(e.image)
        except ValueError:
            same = False
        if same:
            return None
        if not e.rename:
            why = (
                f"names {ref.image}, not {e.image}; a name is changed only when a rename is asked for "
                "(bump --name, rename: true on the rule)"
            )
            if e.selector.marker is not None:  # one marker may mark several images: not this one
                raise Skipped(f"{why}; left alone")
            raise UnsafeEdit(f"{ref.path} {why}", file=self.file, line=ref.line)
        if not any(s.role in ("ref", "name") for s in found.slots) and found.name_key is None:
            raise UnsafeEdit(
                f"{ref.path}: no image name is written there to rename", file=self.file, line=ref.line
            )
        return e.image

    def _new_version(self, found: Found, e: Edit) -> Version:
        ref = found.ref
        has_ref, tag_slot = found.slot("ref") is not None, found.slot("tag")
        insert_at = found.parent is not None
        can_tag = has_ref or tag_slot is not None or (insert_at and found.tag_key is not None)
        can_digest = can_tag or found.slot("digest") is not None
        if e.tag is not None and not can_tag and (e.digest is None or not can_digest):
            raise UnsafeEdit(
                f"{ref.path}: there is no tag there and none can be added; add it by hand",
                file=self.file,
                line=ref.line,
            )
        if e.digest is not None and not can_digest:
            raise UnsafeEdit(f"{ref.path}: there is no digest there and none can be added", file=self.file)
        new_tag = e.tag if e.tag is not None and can_tag else ref.tag
        if e.digest is not None:
            return new_tag, e.digest
        if e.tag is not None and can_tag and new_tag != ref.tag and e.clear_digest:
            return new_tag, None
        return new_tag, ref.digest

    @staticmethod
    def _embed(found: Found) -> bool:
        """Does the tag slot carry the digest too (``1.2@sha256:…``, or no other place for it)?"""
        tag_slot = found.slot("tag")
        return tag_slot is not None and (
            "@" in tag_slot.node.value
            or (found.slot("digest") is None and (found.parent is None or found.digest_key is None))
        )

    @staticmethod
    def _slot_value(
        slot: Slot, name: str | None, version: Version, *, embed: bool, registry: bool
    ) -> str | None:
        tag, digest = version
        if slot.role == "ref":
            written = parse_image(slot.node.value[len(slot.prefix) :]).name
            return (
                slot.prefix
                + (name or written)
                + (f":{tag}" if tag else "")
                + (f"@{digest}" if digest else "")
            )
        if slot.role == "tag":
            if embed:
                return f"{tag}@{digest}" if tag and digest else tag or digest
            return tag
        if slot.role == "digest":
            if digest:
                return digest
            return "" if digest_value(slot.node) else None  # drop a digest; leave a `~` or `""` be
        if name is not None and slot.role in ("name", "registry"):
            return _split_name(name, slot.role, registry_slot=registry)
        return None

    # --- text -------------------------------------------------------------------------------------
    def _replace(self, found: Found, slot: Slot, value: str) -> Splice:
        node = slot.node
        start, end = span(self.parsed, node)
        style = node.style if node.style in ("'", '"') else None
        if node.start_mark.line != node.end_mark.line:
            raise UnsafeEdit(
                f"{found.ref.path}: value spans several lines; edit it by hand",
                file=self.file,
                line=node.start_mark.line + 1,
            )
        text = render(value, style, self.preferred_quote() if style is None else style)
        if start == end and self.parsed.text[start - 1 : start] == ":":
            text = " " + text  # `tag:` with no value: keep a space after the colon
        ref = found.ref
        image, chart = ("", ref.image) if ref.is_chart else (ref.image, "")
        return Splice(start, end, text, ref.doc, slot.path, node.value, value, node, image, chart=chart)

    def _inserts(
        self, found: Found, e: Edit, name: str | None, version: Version, embed: bool
    ) -> list[Splice]:
        tag, digest = version
        wanted: list[tuple[str, str]] = []
        if name is not None and not any(s.role in ("ref", "name") for s in found.slots) and found.name_key:
            wanted.append((found.name_key, name))
        if found.parent is not None and found.slot("ref") is None:
            if found.slot("tag") is None and tag is not None and tag != found.ref.tag and found.tag_key:
                wanted.append((found.tag_key, tag))
            if found.slot("digest") is None and not embed and digest is not None and found.digest_key:
                wanted.append((found.digest_key, digest))
        if wanted and not e.insert:
            keys = ", ".join(k for k, _ in wanted)
            raise Skipped(f"{keys} is not written there; keys are added only in files a target lists")
        return [self._insert(found, key, value, seq) for seq, (key, value) in enumerate(wanted)]

    def _insert(self, found: Found, key: str, value: str, seq: int) -> Splice:
        mapping = found.parent
        assert mapping is not None
        text = self.parsed.text
        last = mapping.value[-1][1]
        rendered = render(value, None, self.preferred_quote())
        path = (*found.parent_path, key)
        if mapping.flow_style:
            pos = last.end_mark.index + self.parsed.offset
            return Splice(
                pos, pos, f", {key}: {rendered}", found.ref.doc, path, "", value, None, found.ref.image, seq
            )
        if (
            not isinstance(last, yaml.ScalarNode)
            or last.style in ("|", ">")
            or (last.start_mark.line != last.end_mark.line)
        ):
            raise UnsafeEdit(
                f"{found.ref.path}: cannot add {key!r} after a nested value; add it by hand",
                file=self.file,
                line=last.start_mark.line + 1,
            )
        end = last.end_mark.index + self.parsed.offset
        m = _BREAK.search(text, end)
        if m is None:
            pos, eol = len(text), "\r\n" if "\r\n" in text else "\n"
        else:
            pos, eol = m.start(), m.group()
        indent = " " * mapping.value[0][0].start_mark.column
        new_text = f"{eol}{indent}{key}: {rendered}"
        return Splice(pos, pos, new_text, found.ref.doc, path, "", value, None, found.ref.image, seq)


def _split_name(name: str, role: str, *, registry_slot: bool) -> str:
    """The part of ``name`` a ``registry`` or ``name`` slot holds when a registry slot exists."""
    ref = parse_image(name)
    if role == "registry":
        return ref.registry or "docker.io"
    return ref.path if registry_slot else name

"""Turn one Edit on one found reference into text splices (pure)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import yaml

from bot.core.images import parse_image
from bot.core.manifests.found import Found, Slot, span
from bot.core.manifests.loader import Parsed
from bot.core.manifests.model import Edit
from bot.core.manifests.quoting import render
from bot.core.manifests.tree import Path
from bot.errors import UnsafeEdit


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


class Planner:
    def __init__(self, parsed: Parsed, file: str, preferred_quote: Callable[[], str]) -> None:
        self.parsed = parsed
        self.file = file
        self.preferred_quote = preferred_quote

    def plan(self, found: Found, e: Edit) -> list[Splice]:
        ref = found.ref
        has_ref = found.slot("ref") is not None
        tag_slot, digest_slot = found.slot("tag"), found.slot("digest")
        can_tag = has_ref or tag_slot is not None or found.parent is not None
        old = (ref.tag, ref.digest)
        new_tag = e.tag if e.tag is not None and can_tag else ref.tag
        if e.digest is not None:
            new_digest: str | None = e.digest
        elif e.tag is not None and can_tag and new_tag != ref.tag and e.clear_digest:
            new_digest = None
        else:
            new_digest = ref.digest
        if (new_tag, new_digest) == old:
            return []
        embed = tag_slot is not None and (
            "@" in tag_slot.node.value or (digest_slot is None and found.parent is None)
        )
        out: list[Splice] = []
        for slot in found.slots:
            value = self._slot_value(slot, new_tag, new_digest, embed)
            if value is not None and value != slot.node.value:
                out.append(self._replace(found, slot, value))
        if found.parent is not None:
            if tag_slot is None and new_tag is not None and new_tag != ref.tag:
                out.append(self._insert(found, found.tag_key or "tag", new_tag, 0))
            if digest_slot is None and not embed and new_digest is not None:
                out.append(self._insert(found, found.digest_key or "digest", new_digest, 1))
        return out

    @staticmethod
    def _slot_value(slot: Slot, tag: str | None, digest: str | None, embed: bool) -> str | None:
        if slot.role == "ref":
            name = parse_image(slot.node.value[len(slot.prefix) :]).name
            return slot.prefix + name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
        if slot.role == "tag":
            if embed:
                if tag and digest:
                    return f"{tag}@{digest}"
                return tag or digest
            return tag
        if slot.role == "digest":
            return digest or ""
        return None

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
        return Splice(start, end, text, found.ref.doc, slot.path, node.value, value, node, found.ref.image)

    def _insert(self, found: Found, key: str, value: str, seq: int) -> Splice:
        mapping = found.parent
        assert mapping is not None
        text = self.parsed.text
        last = mapping.value[-1][1]
        where = f"{found.ref.path}: cannot add {key!r}"
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
                f"{where} after a nested value; add it by hand", file=self.file, line=last.start_mark.line + 1
            )
        end = last.end_mark.index + self.parsed.offset
        newline = text.find("\n", end)
        if newline < 0:
            pos, eol = len(text), "\r\n" if "\r\n" in text else "\n"
        elif text[newline - 1 : newline] == "\r":
            pos, eol = newline - 1, "\r\n"
        else:
            pos, eol = newline, "\n"
        indent = " " * mapping.value[0][0].start_mark.column
        new_text = f"{eol}{indent}{key}: {rendered}"
        return Splice(pos, pos, new_text, found.ref.doc, path, "", value, None, found.ref.image, seq)

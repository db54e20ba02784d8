"""Surgical edits: splice new tag/digest text at located spans, then prove nothing else moved (pure)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import cache

import yaml

from bot.core.images import canonical_name, parse_image, validate_digest, validate_tag
from bot.core.manifests.found import STR_TAG, Found, Slot, make_found, split_tag_digest
from bot.core.manifests.loader import Parsed, compose, no_gc
from bot.core.manifests.locate import locate
from bot.core.manifests.model import Change, Edit, EditResult, RefKind
from bot.core.manifests.quoting import preferred_quote
from bot.core.manifests.select import check_selector, normalised_path, select
from bot.core.manifests.splice import Planner, Splice
from bot.core.manifests.tree import Path, format_path, iter_scalars, lookup, parse_path, walk_paths
from bot.core.manifests.verify import data_diff
from bot.errors import InvalidReference, ManifestError, UnsafeEdit


def edit(text: str, file: str, edits: Sequence[Edit]) -> EditResult:
    """Apply ``edits`` to ``text``; return the new text, the changes and how many references matched.

    Raises ManifestError for unreadable YAML or a bad edit and UnsafeEdit when the result would
    differ in data anywhere but the intended paths; nothing is ever half-applied.
    """
    with no_gc():
        return _edit(text, file, edits)


def _edit(text: str, file: str, edits: Sequence[Edit]) -> EditResult:
    parsed = compose(text, file)
    found, aliased = locate(parsed, file)

    @cache
    def quote_style() -> str:
        return preferred_quote([n.style for root in parsed.roots for n in iter_scalars(root)])

    planner = Planner(parsed, file, quote_style)
    splices: list[Splice] = []
    matched = 0
    for e in edits:
        _check_edit(e, file)
        targets = _targets(parsed, file, found, e)
        matched += len(targets)
        for target in targets:
            try:
                splices.extend(planner.plan(target, e))
            except InvalidReference as exc:
                raise ManifestError(str(exc), file=file, line=target.ref.line) from None
    splices = _dedupe(splices, file)
    if not splices:
        return EditResult(text=text, changes=(), matched=matched)
    new_text = _apply(text, splices)
    allowed = _allowed_paths(parsed, file, splices, aliased)
    _verify(parsed, new_text, file, splices, allowed)
    return EditResult(text=new_text, changes=tuple(_changes(file, splices, allowed)), matched=matched)


def _check_edit(e: Edit, file: str) -> None:
    try:
        check_selector(e.selector)
        if e.tag is None and e.digest is None:
            raise ValueError("an edit needs a tag, a digest or both")
        if e.tag is not None:
            validate_tag(e.tag)
        if e.digest is not None:
            validate_digest(e.digest)
        if e.selector.image is not None:
            parse_image(e.selector.image)
        if e.selector.path is not None:
            parse_path(e.selector.path)
    except ValueError as exc:  # InvalidReference is a ValueError too
        raise ManifestError(str(exc), file=file) from None


def _targets(parsed: Parsed, file: str, found: list[Found], e: Edit) -> list[Found]:
    chosen = {id(r) for r in select([f.ref for f in found], e.selector)}
    targets = [f for f in found if id(f.ref) in chosen]
    if targets or e.selector.path is None:
        return targets
    generic = _scalar_at_path(parsed, file, e.selector.path, e.selector.doc or 0)
    return [generic] if generic is not None else []


def _scalar_at_path(parsed: Parsed, file: str, text_path: str, doc: int) -> Found | None:
    """A scalar chosen by path: an image reference when its key is ``image`` or it has a ``/``,
    otherwise a tag, a ``tag@digest`` or a bare digest."""
    if not 0 <= doc < len(parsed.roots):
        return None
    path = parse_path(text_path)
    node = lookup(parsed.roots[doc], path)
    if not isinstance(node, yaml.ScalarNode) or node.style in ("|", ">"):
        return None
    kind: RefKind = "argocd" if "parameters" in path else "helm"
    if path[-1] == "image" or "/" in node.value:
        try:
            ref = parse_image(node.value)
        except InvalidReference as exc:
            raise ManifestError(
                f"{format_path(path)} is not an image reference: {exc}",
                file=file,
                line=node.start_mark.line + 1,
            ) from None
        return make_found(
            parsed,
            file,
            doc,
            kind=kind,
            path=path,
            image=ref.name,
            version=(ref.tag, ref.digest),
            slots=[Slot(node, path, "ref")],
        )
    tag, digest = split_tag_digest(node.value) if node.tag == STR_TAG else (node.value, None)
    role = "digest" if tag is None and digest is not None else "tag"
    return make_found(
        parsed,
        file,
        doc,
        kind=kind,
        path=path,
        image="",
        version=(tag, digest),
        slots=[Slot(node, path, role)],
    )


def _dedupe(splices: list[Splice], file: str) -> list[Splice]:
    by_span: dict[tuple[int, int, str, int], Splice] = {}
    for s in splices:
        key = (s.start, s.end, format_path(s.path) if s.node is None else "", s.seq)
        prior = by_span.get(key)
        if prior is not None and prior.new_text != s.new_text:
            raise UnsafeEdit(
                f"conflicting edits of {format_path(s.path)}: {prior.new!r} and {s.new!r}", file=file
            )
        by_span[key] = s
    ordered = sorted(by_span.values(), key=lambda s: (s.start, s.end, s.seq))
    for before, after in itertools.pairwise(ordered):
        if after.start < before.end:
            raise UnsafeEdit(
                f"overlapping edits at {format_path(before.path)} and {format_path(after.path)}", file=file
            )
    return ordered


def _apply(text: str, splices: list[Splice]) -> str:
    parts: list[str] = []
    pos = 0
    for s in splices:  # sorted by position
        parts.append(text[pos : s.start])
        parts.append(s.new_text)
        pos = s.end
    parts.append(text[pos:])
    return "".join(parts)


def _allowed_paths(
    parsed: Parsed, file: str, splices: list[Splice], aliased: list[bool]
) -> dict[int, dict[Path, list[Path]]]:
    """Per document: each splice's path → every path where its data shows (aliases, merges)."""
    out: dict[int, dict[Path, list[Path]]] = {}
    for doc in {s.doc for s in splices}:
        mine = [s for s in splices if s.doc == doc]
        reach: dict[int, list[Path]] = {}
        if aliased[doc]:
            targets = {id(s.node) for s in mine if s.node is not None}
            reach = walk_paths(parsed.roots[doc], targets, file) if targets else {}
        out[doc] = {s.path: reach.get(id(s.node), [s.path]) if s.node is not None else [s.path] for s in mine}
    return out


def _verify(parsed: Parsed, new_text: str, file: str, splices: list[Splice], allowed: dict) -> None:
    try:
        after = compose(new_text, file)
    except ManifestError as exc:
        raise UnsafeEdit(
            f"the edit would not parse ({exc.reason}); nothing written", file=file, line=exc.line
        ) from None
    if len(after.roots) != len(parsed.roots):
        raise UnsafeEdit("the edit would change the number of documents; nothing written", file=file)
    for doc, paths in allowed.items():
        ok = {p for reach in paths.values() for p in reach}
        for path in sorted(data_diff(parsed.roots[doc], after.roots[doc]) - ok, key=format_path):
            raise UnsafeEdit(
                f"the edit would also change {format_path(path)} (document {doc}); nothing written", file=file
            )
    for s in splices:
        node = lookup(after.roots[s.doc], s.path)
        if not isinstance(node, yaml.ScalarNode) or node.tag != STR_TAG or node.value != s.new:
            got = node.value if isinstance(node, yaml.ScalarNode) else None
            raise UnsafeEdit(
                f"{format_path(s.path)} would read back as {got!r}, not {s.new!r}; nothing written", file=file
            )


def _changes(file: str, splices: list[Splice], allowed: dict[int, dict[Path, list[Path]]]) -> list[Change]:
    out = []
    for s in splices:
        others = tuple(format_path(p) for p in allowed[s.doc][s.path] if p != s.path)
        image = canonical_name(s.image) if s.image else None
        out.append(
            Change(
                file=file,
                doc=s.doc,
                path=format_path(s.path),
                old=s.old,
                new=s.new,
                image=image,
                aliases=others,
            )
        )
    return out


__all__ = ["edit", "normalised_path"]

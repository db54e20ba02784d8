"""Surgical edits: splice new text at located spans, then prove nothing else moved (pure).

The one rule every edit follows: an edit that would change anything the user did not select, or
leave a reference that is not valid, is refused (``UnsafeEdit``) and nothing is returned half
done. After splicing, the text is parsed again and

1. its data must differ from the original only at the spliced paths (and their aliases);
2. every spliced scalar must read back as the string written;
3. every edited reference, located again, must be a valid reference of the same shape, naming
   the same image (unless a rename was asked for) at exactly the tag and digest asked for.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import yaml

from bot.core.images import canonical_name, parse_image, validate_digest, validate_tag
from bot.core.manifests import charts, patches
from bot.core.manifests.found import STR_TAG, Found
from bot.core.manifests.loader import Parsed, compose, no_gc
from bot.core.manifests.locate import in_patch, locate
from bot.core.manifests.model import Change, Edit, EditResult, Selector
from bot.core.manifests.pathscalar import scalar_at_path
from bot.core.manifests.quoting import preferred_quote
from bot.core.manifests.select import check_selector, normalised_path, select
from bot.core.manifests.splice import Plan, Planner, Skipped, Splice
from bot.core.manifests.tree import Path, format_path, iter_scalars, lookup, parse_path, walk_paths
from bot.core.manifests.verify import data_diff, reference_problem
from bot.errors import InvalidReference, ManifestError, UnsafeEdit

_BREAK = re.compile("[\r\n\x85\u2028\u2029]")


@dataclass(frozen=True, slots=True)
class _Target:
    found: Found
    plan: Plan
    by_path: bool  # a scalar chosen by path that no shape found


def edit(text: str, file: str, edits: Sequence[Edit]) -> EditResult:
    """Apply ``edits`` to ``text``; return the new text, the changes and how many references matched.

    Raises ManifestError for unreadable YAML or a bad edit and UnsafeEdit when the result would
    differ anywhere but the intended values or leave an invalid reference; nothing is ever
    half-applied. References left alone on purpose are listed in ``EditResult.skipped``.
    """
    with no_gc():
        return _edit(text, file, edits)


def _edit(text: str, file: str, edits: Sequence[Edit]) -> EditResult:
    return _spliced(text, file, edits)[0]


def _spliced(
    text: str, file: str, edits: Sequence[Edit], patch: patches.Patch | None = None
) -> tuple[EditResult, list[Splice]]:
    """The edit and its splices. ``patch``: ``text`` is that inline patch's text (its references
    are named by their place in the kustomization, and no patch is looked for inside it)."""
    parsed = compose(text, file)
    found = locate(parsed, file)

    @cache
    def quote_style() -> str:
        return preferred_quote([n.style for _, root in parsed.documents() for n in iter_scalars(root)])

    planner = Planner(parsed, file, quote_style)
    skipped = [str(err) for err in parsed.errors.values()]
    planned: list[_Target] = []
    for e in edits:
        _check_edit(e, file)
        if e.selector.path is not None and patches.SEP in e.selector.path:
            continue  # a reference inside a patch: below
        for target, by_path in _targets(parsed, file, found, e):
            shown = target.ref if patch is None else in_patch(patch, target.ref)
            try:
                plan = planner.plan(target, e)
            except Skipped as why:
                if why.placeholder and e.selector.path is not None:  # chosen precisely: say no
                    raise ManifestError(f"{shown.path}: {why}", file=file, line=shown.line) from None
                skipped.append(f"{file}:{shown.line}: {shown.path}: {why}")
                continue
            except InvalidReference as exc:
                raise ManifestError(str(exc), file=file, line=shown.line) from None
            planned.append(_Target(target, plan, by_path))
    matched = len(planned)
    splices = [s for t in planned for s in t.plan.splices]
    if patch is None:
        inline, unread = patches.find(parsed)
        skipped.extend(f"{file}:{note}" for note in unread)
        for one in inline:
            result, inner = _in_patch(one, file, edits)
            matched += result.matched
            skipped.extend(result.skipped)
            splices.extend(inner)
    splices = _dedupe(splices, file)
    if not splices:
        return EditResult(text=text, changes=(), matched=matched, skipped=tuple(skipped)), []
    new_text = _apply(text, splices)
    allowed = _allowed_paths(parsed, file, splices)
    after = _verify(parsed, new_text, file, splices, allowed)
    _check_references(after, file, [t for t in planned if t.plan.splices])
    changes = tuple(_changes(file, splices, allowed))
    return EditResult(text=new_text, changes=changes, matched=matched, skipped=tuple(skipped)), splices


def _in_patch(patch: patches.Patch, file: str, edits: Sequence[Edit]) -> tuple[EditResult, list[Splice]]:
    """Edit the references inside one inline patch; its splices, placed in the kustomization's text.
    No key is added inside a patch (its lines are lines of the kustomization)."""
    mine = [e for e in (_for_patch(e, patch) for e in edits) if e is not None]
    if not mine:
        return EditResult(patch.text), []
    try:
        result, inner = _spliced(patch.text, file, mine, patch)
    except ManifestError as exc:
        raise type(exc)(f"{patch.label}: {exc.reason}", file=file, line=patch.line(exc.line)) from None
    out = []
    for s in inner:
        if s.node is None or _BREAK.search(s.new_text):
            raise UnsafeEdit(
                f"{patch.label}: {format_path(s.path)} would be added inside the patch; add it by hand",
                file=file,
                line=patch.line(1),
            )
        label = patches.join(patch.label, s.doc, format_path(s.path))
        out.append(
            dataclasses.replace(
                s,
                start=patch.position(s.start),
                end=patch.position(s.end),
                doc=patch.doc,
                path=patch.path,
                node=patch.node,
                inner=result.text,
                label=label,
            )
        )
    return result, out


def _for_patch(e: Edit, patch: patches.Patch) -> Edit | None:
    """``e`` as an edit of the patch's own text (None when it selects nothing there)."""
    if e.selector.path is None:
        return e
    parts = patches.split(e.selector.path)
    if parts is None or parts[0] != patch.label or (e.selector.doc or 0) != patch.doc:
        return None
    return dataclasses.replace(e, selector=Selector(path=parts[2], doc=parts[1]))


def _check_edit(e: Edit, file: str) -> None:
    try:
        check_selector(e.selector)
        if e.tag is None and e.digest is None and not (e.rename and e.image):
            raise ValueError("an edit needs a tag, a digest or both (or a new name)")
        if e.tag is not None and (e.selector.chart or e.selector.chart_key) is not None:
            charts.check_version(e.tag)
        elif e.tag is not None:
            validate_tag(e.tag)
        if e.digest is not None:
            validate_digest(e.digest)
        if e.selector.image is not None:
            parse_image(e.selector.image)
        if e.image is not None and str(parse_image(e.image)) != parse_image(e.image).name:
            raise ValueError(f"give the image name {parse_image(e.image).name!r} without tag or digest")
        if e.selector.path is not None:
            patches.normalise(e.selector.path)
    except ValueError as exc:  # InvalidReference is a ValueError too
        raise ManifestError(str(exc), file=file) from None


def _targets(parsed: Parsed, file: str, found: list[Found], e: Edit) -> list[tuple[Found, bool]]:
    """The references ``e`` selects. A path selects the reference it names or one of whose values
    (name, tag, digest) it names; else the scalar there, read on its own."""
    if e.selector.path is None:
        chosen = {id(r) for r in select([f.ref for f in found], e.selector)}
        return [(f, False) for f in found if id(f.ref) in chosen]
    doc = e.selector.doc or 0
    path = parse_path(e.selector.path)
    text_path = normalised_path(e.selector)
    hits = [f for f in found if f.ref.doc == doc and (f.ref.path == text_path or path in f.paths())]
    if hits:
        return [(f, False) for f in hits]
    generic = scalar_at_path(parsed, file, path, doc)
    return [(generic, True)] if generic is not None else []


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


def _allowed_paths(parsed: Parsed, file: str, splices: list[Splice]) -> dict[int, dict[Path, list[Path]]]:
    """Per document: each splice's path → every path where its data shows (aliases, merges)."""
    out: dict[int, dict[Path, list[Path]]] = {}
    for doc in {s.doc for s in splices}:
        mine = [s for s in splices if s.doc == doc]
        reach: dict[int, list[Path]] = {}
        root = parsed.roots[doc]
        if parsed.aliased[doc] and root is not None:
            targets = {id(s.node) for s in mine if s.node is not None}
            reach = walk_paths(root, targets, file) if targets else {}
        out[doc] = {s.path: reach.get(id(s.node), [s.path]) if s.node is not None else [s.path] for s in mine}
    return out


def _verify(parsed: Parsed, new_text: str, file: str, splices: list[Splice], allowed: dict) -> Parsed:
    try:
        after = compose(new_text, file)
    except ManifestError as exc:
        raise UnsafeEdit(
            f"the edit would not parse ({exc.reason}); nothing written", file=file, line=exc.line
        ) from None
    if len(after.roots) != len(parsed.roots) or after.errors.keys() != parsed.errors.keys():
        raise UnsafeEdit("the edit would change the documents of the file; nothing written", file=file)
    for doc, paths in allowed.items():
        ok = {p for reach in paths.values() for p in reach}
        old_root, new_root = parsed.roots[doc], after.roots[doc]
        assert old_root is not None and new_root is not None
        for path in sorted(data_diff(old_root, new_root) - ok, key=format_path):
            raise UnsafeEdit(
                f"the edit would also change {format_path(path)} (document {doc}); nothing written", file=file
            )
    for s in splices:
        if s.inner is not None:
            if patches.text_of(after, s.doc, s.path) != s.inner:
                raise UnsafeEdit(
                    f"the patch at {format_path(s.path)} would not read as edited; nothing written", file=file
                )
            continue
        root = after.roots[s.doc]
        node = lookup(root, s.path) if root is not None else None
        if not isinstance(node, yaml.ScalarNode) or node.tag != STR_TAG or node.value != s.new:
            got = node.value if isinstance(node, yaml.ScalarNode) else None
            raise UnsafeEdit(
                f"{format_path(s.path)} would read back as {got!r}, not {s.new!r}; nothing written", file=file
            )
    return after


def _check_references(after: Parsed, file: str, targets: list[_Target]) -> None:
    """Locate every edited reference again in the new text: it must read as the edit meant."""
    docs = {t.found.ref.doc for t in targets if not t.by_path}
    again = {(f.ref.doc, f.ref.path): f for f in locate(after, file, docs)} if docs else {}
    for t in targets:
        ref = t.found.ref
        if t.by_path:
            reread = scalar_at_path(after, file, parse_path(ref.path), ref.doc)
        else:
            reread = again.get((ref.doc, ref.path))
        problem = reference_problem(t.found, reread, t.plan.expected)
        if problem is not None:
            raise UnsafeEdit(f"{problem}; nothing written", file=file, line=ref.line)


def _changes(file: str, splices: list[Splice], allowed: dict[int, dict[Path, list[Path]]]) -> list[Change]:
    out = []
    for s in splices:
        others = () if s.label else tuple(format_path(p) for p in allowed[s.doc][s.path] if p != s.path)
        image = canonical_name(s.image) if s.image else None
        out.append(
            Change(
                file=file,
                doc=s.doc,
                path=s.label or format_path(s.path),
                old=s.old,
                new=s.new,
                image=image,
                aliases=others,
                chart=s.chart or None,
            )
        )
    return out


__all__ = ["edit", "normalised_path"]

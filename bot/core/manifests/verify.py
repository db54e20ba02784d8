"""Re-parse checks: which paths differ in data between two versions of a document, and whether an
edited reference reads back as what the edit meant (pure)."""

from __future__ import annotations

import yaml

from bot.core.images import canonical_name, parse_image, validate_digest, validate_tag
from bot.core.manifests import charts
from bot.core.manifests.found import Found
from bot.core.manifests.tree import Path, Seg, pairs
from bot.errors import InvalidReference


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


def reference_problem(
    found: Found, again: Found | None, expected: tuple[str, str | None, str | None]
) -> str | None:
    """Why the reference re-read after an edit is not what the edit meant, or None when it is:
    a valid reference of the same shape, the expected name (unchanged unless renamed), tag and
    digest."""
    path = found.ref.path
    what = "reference" if found.ref.is_chart else "image reference"
    if again is None or again.ref.kind != found.ref.kind:
        return f"{path} would no longer read as a {found.ref.kind} {what}"
    image, tag, digest = expected
    got = again.ref
    if got.is_chart:
        if (got.image, got.tag, got.digest) != (image, tag, digest):
            return f"{path} would read as {got.image} {got.tag}, not {image} {tag}"
        problem = charts.version_problem(got.tag, any_tag=charts.takes_any_tag(got.path))
        return None if problem is None else f"{path} would not be a valid version: {problem}"
    if _canonical(got.image) != _canonical(image):
        return f"{path} would name {got.image or 'no image'}, not {image}"
    if (got.tag, got.digest) != (tag, digest):
        return f"{path} would read as {_version(got.tag, got.digest)}, not {_version(tag, digest)}"
    try:
        if got.image:
            parse_image(f"{got.image}{_version(got.tag, got.digest)}")
        else:
            validate_tag(got.tag) if got.tag else None
            validate_digest(got.digest) if got.digest else None
    except InvalidReference as exc:
        return f"{path} would not be a valid reference: {exc}"
    return None


def _canonical(image: str) -> str:
    if not image:
        return ""
    try:
        return canonical_name(image)
    except ValueError:
        return image


def _version(tag: str | None, digest: str | None) -> str:
    return (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")

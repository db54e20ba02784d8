"""Choose references by image, setter marker or path (pure)."""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.chart_names import ref_matches
from bot.core.images import canonical_name, parse_image
from bot.core.manifests import patches
from bot.core.manifests.model import Reference, Selector


def check_selector(selector: Selector) -> None:
    """Raise ValueError unless exactly one of image / chart / marker / path is set (doc only with path)."""
    names = ("image", "chart", "chart_key", "marker", "path")
    chosen = [n for n in names if getattr(selector, n) is not None]
    if len(chosen) != 1:
        raise ValueError("a selector needs exactly one of image, chart, marker or path")
    if selector.doc is not None and selector.path is None:
        raise ValueError("a document index only goes with a path")


def _canonical(image: str) -> str | None:
    if not image:
        return None
    try:
        return canonical_name(image)
    except ValueError:
        return None


def normalised_path(selector: Selector) -> str:
    assert selector.path is not None
    return patches.normalise(selector.path)


def select(refs: Iterable[Reference], selector: Selector) -> list[Reference]:
    """References the selector picks, in order.

    ``image``: same repository after normalisation (``nginx`` = ``docker.io/library/nginx``),
    never a prefix; its tag/digest, if any, is ignored; charts are never images. ``chart``: a
    chart reference naming that chart (``oci://`` optional on either side). ``chart_key``: the
    chart references that a rule's chart key stands for (``bot.core.chart_names.ref_matches``:
    the HelmRelease naming the chart alone too). ``marker``: the
    ``ns:name`` of a setter marker. ``path``: the reference's path in document ``doc`` (default 0).
    Raises InvalidReference for a malformed image and ValueError for a malformed path.
    """
    check_selector(selector)
    if selector.image is not None:
        want = parse_image(selector.image).canonical_name
        return [r for r in refs if not r.is_chart and _canonical(r.image) == want]
    if selector.chart_key is not None:
        key = selector.chart_key
        return [r for r in refs if r.is_chart and ref_matches(r.image, r.repository, key)]
    if selector.chart is not None:
        chart = selector.chart.removeprefix("oci://")
        return [r for r in refs if r.is_chart and r.image.removeprefix("oci://") == chart]
    if selector.marker is not None:
        return [r for r in refs if r.marker == selector.marker]
    path = normalised_path(selector)
    doc = selector.doc or 0
    return [r for r in refs if r.doc == doc and r.path == path]

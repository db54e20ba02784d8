"""Which inline patches of a kustomization override the values a bump changed in one of its
resources (pure).

Kustomize applies a kustomization's patches after reading its resources, so a patch that sets an
image wins over the value in the resource file: bumping only the file changes nothing that is
rendered. A patch overrides a change when its kustomization lists the changed file in
``resources`` and it sets the same image (canonical name).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable

import yaml

from bot.core.images import canonical_name
from bot.core.manifests import patches
from bot.core.manifests.loader import compose, no_gc
from bot.core.manifests.locate import scan_report
from bot.core.manifests.model import Change, Reference
from bot.core.manifests.tree import lookup

#: the file names kustomize reads as a directory's kustomization
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def resources(text: str, file: str) -> list[str]:
    """The ``resources`` entries of a kustomization, as paths relative to the repository (``file``
    is the kustomization's own path; remote and absolute entries are left out)."""
    with no_gc():
        parsed = compose(text, file)
    base = posixpath.dirname(file)
    out: list[str] = []
    for _, root in parsed.documents():
        items = lookup(root, ("resources",))
        if not isinstance(items, yaml.SequenceNode):
            continue
        for item in items.value:
            value = item.value if isinstance(item, yaml.ScalarNode) else ""
            if value and "://" not in value and not value.startswith("/"):
                out.append(posixpath.normpath(posixpath.join(base, value)))
    return out


def overriding(
    kustomization: str, text: str, file: str, changes: Iterable[Change], edited: Iterable[str] = ()
) -> list[Reference]:
    """The references inside ``kustomization``'s inline patches that override ``changes`` made in
    ``file`` (a path like the kustomization's), less those at the two-part paths in ``edited``
    (patches the same bump edits)."""
    if posixpath.normpath(file) not in resources(text, kustomization):
        return []
    changes = list(changes)
    images = {c.image for c in changes if c.image}
    charts = {c.chart for c in changes if c.chart}
    done = set(edited)
    refs, _ = scan_report(text, kustomization)
    out = []
    for ref in refs:
        if patches.SEP not in ref.path or ref.path in done:
            continue
        if ref.is_chart:
            if ref.image in charts:
                out.append(ref)
            continue
        try:
            name = canonical_name(ref.image)
        except ValueError:
            continue
        if name in images:
            out.append(ref)
    return out

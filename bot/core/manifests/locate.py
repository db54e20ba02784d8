"""Find every image reference in a parsed YAML file (pure).

Each reference is a :class:`Found`: the public :class:`Reference` plus the scalar slots an edit
may rewrite (the whole ``name:tag@digest`` string, or separate name / tag / digest scalars) and,
for mappings, the mapping where a missing ``tag``/``newTag``/``digest`` key goes. The shapes live
in ``helm`` (image mappings, flat ``image.tag`` keys), ``kustomize`` (``images:`` entries) and
``argocd`` (Application ``kustomize.images`` and ``helm.parameters``); strings are handled here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

import yaml

from bot.core.images import ImageRef, parse_image
from bot.core.manifests import argocd, charts, helm, json6902, kustomize, patches
from bot.core.manifests.found import Found, Slot, Version, is_value_scalar, make_found
from bot.core.manifests.loader import Parsed, compose, no_gc
from bot.core.manifests.markers import attach_markers
from bot.core.manifests.model import Reference, RefKind
from bot.core.manifests.tree import Path, Seg, Walker, format_path
from bot.errors import InvalidReference, ManifestError

#: keys whose list items are container specs (Kubernetes pod specs, Tekton steps/sidecars)
CONTAINER_LISTS = frozenset({"containers", "initContainers", "ephemeralContainers", "steps", "sidecars"})
#: keys whose mapping value is one container spec (Argo Workflows templates, Tekton stepTemplate)
CONTAINER_MAPS = frozenset({"container", "stepTemplate"})
#: ``…Image`` / ``…_image`` keys holding a ``repo:tag`` string (``sidecarImage``, ``inline_image``)
_IMAGE_KEY = re.compile(r"(?:.*[a-z0-9]Image|.*[_-]image)\Z")
#: keys naming virtual-machine images, never container images (Azure Pipelines, clouds)
VM_IMAGE_KEYS = frozenset({"vmimage", "machineimage", "osimage", "diskimage", "bootimage"})
#: CI configuration files, whose images are CI job images (kind ``ci``)
_CI_FILE = re.compile(
    r"""(?x)(?:\A|/)(?:
        (?:[^/]*\.)?gitlab-ci\.ya?ml | \.gitlab/ci/[^\n]* | \.circleci/[^\n]* | \.github/workflows/[^\n]*
        | bitbucket-pipelines\.ya?ml | \.drone\.ya?ml | \.woodpecker(?:\.ya?ml|/[^\n]*) | \.travis\.ya?ml
        | azure-pipelines[^/]*\.ya?ml | cloudbuild\.ya?ml | \.buildkite/[^\n]* | codefresh\.ya?ml
    )\Z"""
)


def _root_keys(root: yaml.Node) -> dict[str, yaml.Node]:
    if not isinstance(root, yaml.MappingNode):
        return {}
    return {k.value: v for k, v in root.value if isinstance(k, yaml.ScalarNode)}


def is_ci_document(file: str, root: yaml.Node) -> bool:
    """A CI configuration: by file name, or by the shape CircleCI, GitLab CI and GitHub Actions
    files have (their images are job images, not workloads)."""
    if _CI_FILE.search(file.replace("\\", "/")):
        return True
    keys = _root_keys(root)
    if {"version", "jobs"} <= keys.keys() and ("workflows" in keys or "orbs" in keys):
        return True
    if "jobs" in keys and "on" in keys:
        return True
    return "stages" in keys and any(
        isinstance(v, yaml.MappingNode) and any(getattr(k, "value", None) == "script" for k, _ in v.value)
        for v in keys.values()
    )


def _scalar_value(node: yaml.Node | None) -> str:
    return node.value if isinstance(node, yaml.ScalarNode) else ""


class Locator:
    """Visits one document's nodes and collects the references in it."""

    def __init__(self, parsed: Parsed, file: str, doc: int, root: yaml.Node) -> None:
        self.parsed = parsed
        self.file = file
        self.doc = doc
        self.ci = is_ci_document(file, root)
        keys = _root_keys(root)
        self.flux_kustomization = _scalar_value(keys.get("kind")) == "Kustomization" and _scalar_value(
            keys.get("apiVersion")
        ).startswith("kustomize.toolkit.fluxcd.io/")
        self.found: list[Found] = []
        self._claimed: dict[int, Found] = {}

    @property
    def mapping_kind(self) -> RefKind:
        return "ci" if self.ci else "helm"

    def visit(self, node: yaml.Node, path: list[Seg], entries: list | None) -> None:
        if entries is None:
            if isinstance(node, yaml.SequenceNode) and path:
                self._sequence(node, tuple(path))
            return
        dotted = False
        for key, _, value in entries:
            lower = key.lower()
            if isinstance(value, yaml.ScalarNode) and (lower == "image" or _IMAGE_KEY.match(key)):
                self._image_string(value, (*path, key), named=lower == "image")
            elif (
                isinstance(value, yaml.MappingNode)
                and lower.endswith("image")
                and self._container_key(lower, path)
            ):
                helm.image_mapping(self, value, (*path, key))
            dotted = dotted or "." in key
        if dotted:
            helm.flat_keys(self, node, entries, tuple(path))

    def _sequence(self, node: yaml.SequenceNode, path: Path) -> None:
        if path[-1] == "images":
            if len(path) == 1 or (path == ("spec", "images") and self.flux_kustomization):
                kustomize.images(self, node, path)
            elif len(path) >= 2 and path[-2] == "kustomize":
                argocd.kustomize_images(self, node, path)
        elif path[-2:] == ("helm", "parameters"):
            argocd.helm_parameters(self, node, path)

    @staticmethod
    def _container_key(lower: str, path: list[Seg]) -> bool:
        """Not a virtual-machine image (``vmImage``, CircleCI's ``machine.image``)."""
        return lower not in VM_IMAGE_KEYS and path[-1:] != ["machine"]

    def image_key(self, key: str, parent: Path) -> bool:
        """A key whose string value is an image reference (``image``, ``sidecarImage``)."""
        return (key.lower() == "image" or bool(_IMAGE_KEY.match(key))) and self._container_key(
            key.lower(), list(parent[-1:])
        )

    # --- strings ------------------------------------------------------------------------------
    def _image_string(self, node: yaml.ScalarNode, path: Path, *, named: bool) -> None:
        parent = path[:-1]
        if not self._container_key(str(path[-1]).lower(), list(parent[-1:])):
            return
        ref = self.parse(node)
        if ref is None or (not named and ref.tag is None and ref.digest is None):
            return
        self.add(self.string_kind(parent), path, ref.name, (ref.tag, ref.digest), [Slot(node, path, "ref")])

    def string_kind(self, parent: Path) -> RefKind:
        if self.ci:
            return "ci"
        if (len(parent) >= 2 and isinstance(parent[-1], int) and parent[-2] in CONTAINER_LISTS) or (
            parent and parent[-1] in CONTAINER_MAPS
        ):
            return "container"
        if len(parent) == 2 and parent[0] == "services":
            return "compose"
        return "helm"

    # --- helpers --------------------------------------------------------------------------------
    @staticmethod
    def parse(node: yaml.Node | None) -> ImageRef | None:
        if node is None or not is_value_scalar(node):
            return None
        try:
            return parse_image(node.value)
        except InvalidReference:
            return None

    def add(self, kind: RefKind, path: Path, image: str, version: Version, slots: list[Slot]) -> Found | None:
        key = id(slots[0].node)
        prior = self._claimed.get(key)
        if prior is not None:  # the same scalar reached again through an alias or a merge
            if prior.ref.kind == "helm" and kind in ("container", "compose", "ci"):
                prior.ref = replace(prior.ref, kind=kind, path=format_path(path))
                prior.slots = slots
            return None
        found = make_found(
            self.parsed, self.file, self.doc, kind=kind, path=path, image=image, version=version, slots=slots
        )
        self._claimed[key] = found
        self.found.append(found)
        return found


def locate(parsed: Parsed, file: str, docs: Iterable[int] | None = None) -> list[Found]:
    """All references of every readable document (or only of ``docs``), in document order."""
    wanted = None if docs is None else set(docs)
    found: list[Found] = []
    chart_refs: list[Found] = []
    for doc, root in parsed.documents():
        if wanted is not None and doc not in wanted:
            continue
        locator = Locator(parsed, file, doc, root)
        Walker(file, locator.visit).walk(root)
        if isinstance(root, yaml.SequenceNode):
            json6902.operations(locator, root)
        found.extend(locator.found)
        chart_refs.extend(charts.find(parsed, file, doc, root))
    found = [*attach_markers(parsed, file, found, wanted), *chart_refs]  # markers are for images
    found.sort(key=lambda f: (f.ref.doc, f.ref.spans[0][0]))
    return found


def scan(text: str, file: str = "<input>") -> list[Reference]:
    """Every image reference in ``text`` (all readable documents), in document order."""
    return scan_report(text, file)[0]


def scan_report(text: str, file: str = "<input>") -> tuple[list[Reference], tuple[str, ...]]:
    """The references of ``text`` and one line per document skipped because it does not parse
    (a templated document among readable ones) or patch left unread. References inside a
    kustomization's inline patches come after the kustomization's own, with two-part paths."""
    with no_gc():
        parsed = compose(text, file)
        refs = [f.ref for f in locate(parsed, file)]
        notes = [str(err) for err in parsed.errors.values()]
        inline, unread = patches.find(parsed)
        notes.extend(f"{file}:{note}" for note in unread)
        for patch in inline:
            try:
                inner = compose(patch.text, file)
            except ManifestError as exc:
                notes.append(
                    f"{file}:{patch.line(exc.line) or patch.node.start_mark.line + 1}: "
                    f"{patch.label}: patch not read: {exc.reason}"
                )
                continue
            refs.extend(in_patch(patch, f.ref) for f in locate(inner, file))
    return refs, tuple(notes)


def in_patch(patch: patches.Patch, ref: Reference) -> Reference:
    """A reference found in a patch's text, placed in the kustomization's text."""
    line, column = patch.line_column(ref.spans[0][0])
    return replace(
        ref,
        doc=patch.doc,
        path=patches.join(patch.label, ref.doc, ref.path),
        line=line,
        column=column,
        spans=tuple((patch.position(a), patch.position(b)) for a, b in ref.spans),
    )


__all__ = ["Locator", "in_patch", "locate", "scan", "scan_report"]

"""Find every image reference in a parsed YAML file (pure).

Each reference is a :class:`Found`: the public :class:`Reference` plus the scalar slots an edit
may rewrite (the whole ``name:tag@digest`` string, or separate tag / digest scalars) and, for
Helm and Kustomize mappings, the mapping where a missing ``tag``/``newTag``/``digest`` key goes.
"""

from __future__ import annotations

from dataclasses import replace

import yaml

from bot.core.images import ImageRef, parse_image
from bot.core.manifests.found import (
    NULL_TAG,
    STR_TAG,
    Found,
    Slot,
    is_value_scalar,
    make_found,
    split_tag_digest,
)
from bot.core.manifests.loader import Parsed, compose, no_gc
from bot.core.manifests.markers import attach_markers
from bot.core.manifests.model import Reference, RefKind
from bot.core.manifests.tree import Path, Seg, Walker, format_path
from bot.errors import InvalidReference

#: keys whose list items are container specs (Kubernetes pod specs, Tekton steps/sidecars)
CONTAINER_LISTS = frozenset({"containers", "initContainers", "ephemeralContainers", "steps", "sidecars"})
#: keys whose mapping value is one container spec (Argo Workflows templates, Tekton stepTemplate)
CONTAINER_MAPS = frozenset({"container", "stepTemplate"})


def _tag_of(node: yaml.ScalarNode) -> tuple[str | None, str | None]:
    if node.tag == NULL_TAG:
        return None, None
    if node.tag == STR_TAG:
        return split_tag_digest(node.value)
    return node.value, None  # a plain 1.16 loads as a float but is still the tag "1.16"


class _Locator:
    def __init__(self, parsed: Parsed, file: str, doc: int) -> None:
        self.parsed = parsed
        self.file = file
        self.doc = doc
        self.found: list[Found] = []
        self._claimed: dict[int, Found] = {}

    def visit(self, node: yaml.Node, path: list[Seg], entries: list | None) -> None:
        if entries is None:
            if isinstance(node, yaml.SequenceNode) and path and path[-1] == "images":
                self._images_list(node, tuple(path))
            return
        for key, _, value in entries:
            if key == "image" and isinstance(value, yaml.ScalarNode):
                self._image_string(value, (*path, key))
            elif key.lower().endswith("image") and isinstance(value, yaml.MappingNode):
                self._helm_mapping(value, (*path, key))

    # --- shapes ---------------------------------------------------------------------------------
    def _image_string(self, node: yaml.ScalarNode, path: Path) -> None:
        ref = self._parse(node)
        if ref is None:
            return
        parent = path[:-1]
        kind: RefKind = "helm"
        if (len(parent) >= 2 and isinstance(parent[-1], int) and parent[-2] in CONTAINER_LISTS) or (
            parent and parent[-1] in CONTAINER_MAPS
        ):
            kind = "container"
        elif len(parent) == 2 and parent[0] == "services":
            kind = "compose"
        self._add(kind, path, ref.name, (ref.tag, ref.digest), [Slot(node, path, "ref")])

    def _helm_mapping(self, node: yaml.MappingNode, path: Path) -> None:
        entries = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
        repo = entries.get("repository")
        if repo is None or not is_value_scalar(repo) or not repo.value:
            return
        registry = entries.get("registry")
        name = repo.value
        if registry is not None and is_value_scalar(registry) and registry.value:
            name = f"{registry.value}/{name}"
        slots = [Slot(repo, (*path, "repository"), "name")]
        tag = digest = None
        tag_node = entries.get("tag")
        if tag_node is not None:
            if not isinstance(tag_node, yaml.ScalarNode) or tag_node.style in ("|", ">"):
                return
            tag, digest = _tag_of(tag_node)
            slots.append(Slot(tag_node, (*path, "tag"), "tag"))
        digest_node = entries.get("digest")
        if digest_node is not None and is_value_scalar(digest_node):
            digest = digest_node.value or digest
            slots.append(Slot(digest_node, (*path, "digest"), "digest"))
        found = self._add("helm", path, name, (tag, digest), slots)
        if found is not None:
            found.parent, found.parent_path = node, path
            found.tag_key, found.digest_key = "tag", "digest"

    def _images_list(self, node: yaml.SequenceNode, path: Path) -> None:
        if len(path) == 1:
            for i, item in enumerate(node.value):
                if isinstance(item, yaml.MappingNode):
                    self._kustomize_item(item, (*path, i))
        elif len(path) >= 2 and path[-2] == "kustomize":
            for i, item in enumerate(node.value):
                if is_value_scalar(item):
                    self._argocd_item(item, (*path, i))

    def _kustomize_item(self, node: yaml.MappingNode, path: Path) -> None:
        entries = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
        name = entries.get("name")
        if name is None or not is_value_scalar(name):
            return
        new_name = entries.get("newName")
        image = new_name.value if new_name is not None and is_value_scalar(new_name) else name.value
        slots = [Slot(name, (*path, "name"), "name")]
        tag = digest = None
        tag_node = entries.get("newTag")
        if isinstance(tag_node, yaml.ScalarNode) and tag_node.style not in ("|", ">"):
            tag = tag_node.value or None
            slots.append(Slot(tag_node, (*path, "newTag"), "tag"))
        digest_node = entries.get("digest")
        if digest_node is not None and is_value_scalar(digest_node):
            digest = digest_node.value or None
            slots.append(Slot(digest_node, (*path, "digest"), "digest"))
        found = self._add("kustomize", path, image, (tag, digest), slots)
        if found is not None:
            found.parent, found.parent_path = node, path
            found.tag_key, found.digest_key = "newTag", "digest"

    def _argocd_item(self, node: yaml.ScalarNode, path: Path) -> None:
        prefix, sep, rest = node.value.rpartition("=")
        try:
            ref = parse_image(rest)
        except InvalidReference:
            return
        slot = Slot(node, path, "ref", prefix=prefix + sep)
        self._add("argocd", path, ref.name, (ref.tag, ref.digest), [slot])

    # --- helpers --------------------------------------------------------------------------------
    def _parse(self, node: yaml.ScalarNode) -> ImageRef | None:
        if not is_value_scalar(node):
            return None
        try:
            return parse_image(node.value)
        except InvalidReference:
            return None

    def _add(
        self, kind: RefKind, path: Path, image: str, version: tuple[str | None, str | None], slots: list[Slot]
    ) -> Found | None:
        key = id(slots[0].node)
        prior = self._claimed.get(key)
        if prior is not None:  # the same scalar reached again through an alias or a merge
            if prior.ref.kind == "helm" and kind in ("container", "compose"):
                prior.ref = replace(prior.ref, kind=kind, path=format_path(path))
                prior.slots = slots
            return None
        found = make_found(
            self.parsed, self.file, self.doc, kind=kind, path=path, image=image, version=version, slots=slots
        )
        self._claimed[key] = found
        self.found.append(found)
        return found


def locate(parsed: Parsed, file: str) -> tuple[list[Found], list[bool]]:
    """All references of every document, and per document whether it uses aliases/merges."""
    found: list[Found] = []
    aliased: list[bool] = []
    for doc, root in enumerate(parsed.roots):
        locator = _Locator(parsed, file, doc)
        walker = Walker(file, locator.visit)
        walker.walk(root)
        aliased.append(walker.aliased)
        found.extend(locator.found)
    found = attach_markers(parsed, file, found)
    found.sort(key=lambda f: (f.ref.doc, f.ref.spans[0][0]))
    return found, aliased


def scan(text: str, file: str = "<input>") -> list[Reference]:
    """Every image reference in ``text`` (all documents), in document order."""
    with no_gc():
        found, _ = locate(compose(text, file), file)
    return [f.ref for f in found]

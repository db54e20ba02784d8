"""A scalar chosen by ``--path`` that no shape found: what is it? (pure)

Read from its value and its key (for an Argo CD ``helm.parameters`` item, the item's ``name``):

- a bare ``sha256:…`` → a digest; a number, ``~`` → a tag;
- a ``/`` or ``:`` before any ``@`` (``busybox:1.36``, ``ghcr.io/a/b``), or a key naming an image
  (``image``, ``sidecarImage``) → a whole image reference;
- a key naming an image name (``repository``, ``name``, ``newName``, ``registry``) → refused: a
  tag must never overwrite a name (select the reference it belongs to, or write the tag's path);
- ``x@sha256:…`` is a tag and digest under a key naming a tag or version, else refused as
  ambiguous (``nginx@sha256:…`` is an image);
- anything else → a tag (``appVersion: 1.2.3``).
"""

from __future__ import annotations

import re

import yaml

from bot.core.images import DIGEST_RE, parse_image
from bot.core.manifests.found import STR_TAG, Found, Slot, Version, is_inline_scalar, make_found, placeholder
from bot.core.manifests.loader import Parsed
from bot.core.manifests.model import RefKind
from bot.core.manifests.tree import Path, format_path, lookup
from bot.errors import InvalidReference, ManifestError

_NAME_KEY = re.compile(
    r"(?i:(?:.*[._-])?(?:repository|repo|name|newname|registry|imagename))\Z|.*[a-z0-9](?:Repository|Registry|Name)\Z"
)
_TAG_KEY = re.compile(r"(?i)(?:.*[._-])?(?:tag|newtag|version|imagetag|imageversion)\Z|.*(?:Tag|Version)\Z")
_IMAGE_KEY = re.compile(r"(?i)(?:.*[._-])?image\Z|.*[a-z0-9]Image\Z")


def scalar_at_path(parsed: Parsed, file: str, path: Path, doc: int) -> Found | None:
    """The scalar at ``path`` in document ``doc`` as a reference of its own, or None if there is no
    such scalar. Raise ManifestError when it must not be edited as a version."""
    root = parsed.roots[doc] if 0 <= doc < len(parsed.roots) else None
    node = lookup(root, path) if root is not None else None
    if not isinstance(node, yaml.ScalarNode) or not is_inline_scalar(node):
        return None
    where = format_path(path)
    line = node.start_mark.line + 1
    if placeholder(node.value):
        raise ManifestError(
            f"{where} holds a placeholder ({node.value!r}) another tool fills in", file=file, line=line
        )
    key = _key(root, path)
    kind: RefKind = "argocd" if "parameters" in path else "helm"
    role = _role(node, key)
    if role == "name":
        raise ManifestError(
            f"{where} holds an image name, not a version; select the reference it belongs to "
            "(--image, a marker, or the path of its tag)",
            file=file,
            line=line,
        )
    if role == "ambiguous":
        raise ManifestError(
            f"{where}: cannot tell whether {node.value!r} is an image or a tag with a digest; "
            "select it with --image or a marker",
            file=file,
            line=line,
        )
    if role == "ref":
        try:
            ref = parse_image(node.value)
        except InvalidReference as exc:
            raise ManifestError(f"{where} is not an image reference: {exc}", file=file, line=line) from None
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
    version: Version = _tag_digest(node)
    slot_role = "digest" if version[0] is None and version[1] is not None else "tag"
    return make_found(
        parsed,
        file,
        doc,
        kind=kind,
        path=path,
        image="",
        version=version,
        slots=[Slot(node, path, slot_role)],
    )


def _tag_digest(node: yaml.ScalarNode) -> Version:
    if node.tag != STR_TAG:
        return (None, None) if node.tag.endswith(":null") else (node.value, None)
    if "@" in node.value:
        tag, _, digest = node.value.partition("@")
        return tag or None, digest or None
    if DIGEST_RE.fullmatch(node.value):
        return None, node.value
    return node.value or None, None


def _key(root: yaml.Node, path: Path) -> str:
    """The key naming the scalar: the last path key, or an Argo CD parameter's ``name``."""
    last = path[-1]
    if last == "value" and len(path) >= 2:
        item = lookup(root, path[:-1])
        if isinstance(item, yaml.MappingNode):
            for k, v in item.value:
                if getattr(k, "value", None) == "name" and isinstance(v, yaml.ScalarNode):
                    return v.value
    return last if isinstance(last, str) else ""


def _role(node: yaml.ScalarNode, key: str) -> str:
    if node.tag != STR_TAG:
        return "tag"
    value = node.value
    if DIGEST_RE.fullmatch(value):
        return "tag"
    if _NAME_KEY.fullmatch(key):
        return "name"
    head, at, _ = value.partition("@")
    if "/" in head or ":" in head or _IMAGE_KEY.fullmatch(key):
        return "ref"
    if at and not _TAG_KEY.fullmatch(key):
        return "ambiguous"
    return "tag"

"""Container image references: parse, format and normalise (pure).

Grammar (OCI distribution / docker reference)::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path
    domain     := host [ ":" port ]
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" encoded

The first path component is a registry host when it contains ``.`` or ``:``, is ``localhost``, or
has upper-case letters (docker's rule), so ``localhost:32000/app`` has no tag while ``app:32000``
does. Normalisation for matching maps ``nginx``, ``docker.io/library/nginx`` and
``index.docker.io/library/nginx`` to one name and lower-cases the host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from bot.errors import InvalidReference

DOCKER_HUB = "docker.io"
_DOCKER_HUB_ALIASES = frozenset(
    {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
)

#: what a tag can point at: an image manifest or an index (multi-arch list), OCI or Docker v2, in
#: the order a registry client prefers them (indexes first, so a multi-arch tag keeps its digest)
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)

TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_COMPONENT_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
DIGEST_RE = re.compile(r"(?P<alg>[a-z0-9]+(?:[.+_-][a-z0-9]+)*):(?P<hex>[a-zA-Z0-9=_-]{32,})")
_HOST_RE = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
)
_KNOWN_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}
MAX_NAME_LENGTH = 255


@dataclass(frozen=True, slots=True)
class ImageRef:
    """One parsed reference, keeping the registry and path exactly as written."""

    registry: str | None
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The repository as written, without tag or digest."""
        return f"{self.registry}/{self.path}" if self.registry else self.path

    @property
    def canonical_name(self) -> str:
        """The normalised repository used for matching (``docker.io/library/nginx``)."""
        return canonical_name(self.name)

    def with_version(self, tag: str | None, digest: str | None) -> ImageRef:
        return replace(self, tag=tag, digest=digest)

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def _split_domain(name: str) -> tuple[str | None, str]:
    first, sep, rest = name.partition("/")
    if not sep:
        return None, name
    if "." in first or ":" in first or first == "localhost" or first != first.lower():
        return first, rest
    return None, name


def validate_tag(tag: str) -> str:
    if not TAG_RE.fullmatch(tag):
        raise InvalidReference(
            f"invalid tag {tag!r}: a tag is 1-128 of [A-Za-z0-9_.-] and cannot start with '.' or '-'"
        )
    return tag


def validate_digest(digest: str) -> str:
    m = DIGEST_RE.fullmatch(digest)
    if not m:
        raise InvalidReference(f"invalid digest {digest!r}: expected algorithm:hex, e.g. sha256:<64 hex>")
    want = _KNOWN_DIGEST_LENGTHS.get(m["alg"])
    if want is not None and (len(m["hex"]) != want or not re.fullmatch(r"[0-9a-f]+", m["hex"])):
        raise InvalidReference(f"invalid digest {digest!r}: {m['alg']} needs {want} lower-case hex digits")
    return digest


def parse_image(text: str) -> ImageRef:
    """Parse ``[registry[:port]/]path[:tag][@digest]``; raise InvalidReference with the reason."""
    ref = text.strip()
    if not ref:
        raise InvalidReference("empty image reference")
    if any(c.isspace() for c in ref):
        raise InvalidReference(f"invalid image reference {text!r}: contains white space")
    digest = None
    if "@" in ref:
        ref, _, digest = ref.partition("@")
        validate_digest(digest)
    tag = None
    last = ref.rfind(":")
    if last > ref.rfind("/"):  # a colon after the last slash separates the tag, not a port
        ref, tag = ref[:last], ref[last + 1 :]
        validate_tag(tag)
    if not ref:
        raise InvalidReference(f"invalid image reference {text!r}: no repository name")
    if len(ref) > MAX_NAME_LENGTH:
        raise InvalidReference(f"invalid image reference {text!r}: name longer than {MAX_NAME_LENGTH}")
    registry, path = _split_domain(ref)
    if registry is not None and not _HOST_RE.fullmatch(registry):
        raise InvalidReference(f"invalid image reference {text!r}: bad registry host {registry!r}")
    for component in path.split("/"):
        if not _COMPONENT_RE.fullmatch(component):
            reason = "must be lower-case" if component.lower() != component else "has invalid characters"
            raise InvalidReference(f"invalid image reference {text!r}: path component {component!r} {reason}")
    return ImageRef(registry=registry, path=path, tag=tag, digest=digest)


def canonical_name(name: str) -> str:
    """Normalise a repository name (no tag) for matching; tolerant of an upper-case path."""
    registry, path = _split_domain(name.strip())
    host = (registry or DOCKER_HUB).lower()
    if host in _DOCKER_HUB_ALIASES:
        host = DOCKER_HUB
        if "/" not in path:
            path = f"library/{path}"
    return f"{host}/{path.lower()}"


def same_image(a: str, b: str) -> bool:
    """True when two references (tags and digests ignored) name the same repository."""
    return parse_image(a).canonical_name == parse_image(b).canonical_name

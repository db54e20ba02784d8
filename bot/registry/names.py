"""Where a repository lives: its registry host, the host its API answers on, the path, the scheme.

Docker Hub is named ``docker.io`` but answers on ``registry-1.docker.io``, and a one-component
name is under ``library/`` (``nginx`` → ``registry-1.docker.io/v2/library/nginx``). Plain HTTP is
used only for ``localhost``, ``127.0.0.0/8``, ``[::1]`` and the hosts the operator lists as
insecure (``MANIFEST_BOT_INSECURE_REGISTRIES``); everything else is HTTPS.

An operator may name where a registry answers (``MANIFEST_BOT_REGISTRY_ENDPOINTS``:
``registry.example.com=10.0.0.5:5000``): images keep their name, requests go to that endpoint (an
in-cluster address, a proxy), and the plain-HTTP rule applies to the endpoint.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from bot.core.images import DOCKER_HUB, parse_image
from bot.errors import InvalidReference

DOCKER_HUB_API = "registry-1.docker.io"


@dataclass(frozen=True, slots=True)
class Repository:
    image: str  # canonical name: docker.io/library/nginx
    host: str  # the registry as users name it: docker.io, ghcr.io, 127.0.0.1:5000
    api_host: str  # where its API answers: registry-1.docker.io for docker.io
    path: str  # library/nginx
    scheme: str  # https, or http for local and insecure registries

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.api_host}"

    @property
    def api(self) -> str:
        """``<origin>/v2/<path>``: manifests and tags are below it."""
        return f"{self.origin}/v2/{self.path}"


def locate(
    image: str, insecure: frozenset[str] = frozenset(), endpoints: Mapping[str, str] | None = None
) -> Repository:
    """The repository ``image`` names (any spelling, no tag or digest); InvalidReference otherwise.
    ``endpoints`` maps a registry host to the ``host[:port]`` its API answers on."""
    ref = parse_image(image)
    if ref.tag or ref.digest:
        raise InvalidReference(f"{image!r}: give the repository without a tag or digest")
    host, _, path = ref.canonical_name.partition("/")
    endpoint = (endpoints or {}).get(host)
    api_host = endpoint or (DOCKER_HUB_API if host == DOCKER_HUB else host)
    plain = plain_http_allowed(endpoint, insecure) if endpoint else plain_http_allowed(host, insecure)
    return Repository(ref.canonical_name, host, api_host, path, "http" if plain else "https")


def plain_http_allowed(host: str, insecure: frozenset[str]) -> bool:
    """Loopback registries and the ones the operator lists (with or without their port)."""
    if host in insecure:
        return True
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if name in insecure:
        return True
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False

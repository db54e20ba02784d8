"""The container-registry adapter: an OCI Distribution client implementing ``bot.core.ports.Registry``.

``names`` (where a repository lives), ``credentials`` (Docker config.json), ``auth`` (anonymous,
basic and bearer-token flows), ``transport`` (one request: metrics, bounded bodies, error mapping),
``client`` (``RegistryClient``: resolve, exists, list_tags, digest cache, a manifest's config
media type); for Helm charts, ``helm_index`` (an ``index.yaml``'s versions, from libyaml's event
stream), ``helm_repo`` (``HelmRepositories``: conditional GETs, bounded, cached) and ``artifacts``
(``Artifacts``: the port over both, answering chart keys). Built in ``bot.deps``.

oras-py (the OCI project's Python SDK) was evaluated first and not used: its requests retry by
sleeping inside the call (up to five times, 3 s to 83 s), it keeps one token per client whatever
the repository (so every other repository costs a fresh token), its manifest call returns the
parsed JSON without the digest, it ignores ``identitytoken`` and maps no 429 or 5xx into errors a
queue can act on. The HTTP here is ~300 lines over ``requests``, which the forges use already.
"""

from bot.registry.client import RegistryClient

__all__ = ["RegistryClient"]

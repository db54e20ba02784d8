"""Reading an image's config (pure parts): which manifest of an index to follow, where its config
blob is, and what labels the config holds.

- **An index** (multi-platform): the ``linux/amd64`` image when listed, else the first entry that
  names a real platform (BuildKit's attestation manifests say ``unknown/unknown``), else the first.
- **An image config** (OCI or Docker): ``config.Labels``.
- **A Helm chart's config** (``application/vnd.cncf.helm.config.v1+json``, Chart.yaml as JSON): its
  first ``sources`` URL and ``version`` as the ``org.opencontainers.image.source``/``.version``
  labels, so a chart's release notes are looked up the same way.

Every value is bounded: labels are strings of at most ``MAX_LABEL`` characters, at most
``MAX_LABELS`` of them; a config blob is at most ``MAX_CONFIG_BYTES``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.images import validate_digest
from bot.errors import InvalidReference, ValidationFailed

INDEX_TYPES = frozenset(
    {"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"}
)
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
PREFERRED_PLATFORM = ("linux", "amd64")
MAX_CONFIG_BYTES = 1024 * 1024
MAX_LABELS = 200
MAX_LABEL = 2048
SOURCE = "org.opencontainers.image.source"
VERSION = "org.opencontainers.image.version"


@dataclass(frozen=True, slots=True)
class Descriptor:
    digest: str
    media_type: str | None
    size: int | None
    platform: str | None = None  # os/arch[/variant], for an index entry


def parse_json(body: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise ValidationFailed(f"{what}: the registry answered something that is not JSON") from None
    if not isinstance(data, dict):
        raise ValidationFailed(f"{what}: not a JSON object")
    return data


def is_index(media_type: str | None, manifest: Mapping[str, Any]) -> bool:
    declared = media_type or manifest.get("mediaType")
    return declared in INDEX_TYPES or ("manifests" in manifest and "config" not in manifest)


def _descriptor(raw: Any, what: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise ValidationFailed(f"{what}: a descriptor is not an object")
    try:
        digest = validate_digest(str(raw.get("digest", "")))
    except InvalidReference:
        raise ValidationFailed(f"{what}: a descriptor has no valid digest") from None
    size = raw.get("size")
    platform = raw.get("platform")
    shown = None
    if isinstance(platform, dict):
        parts = [platform.get("os"), platform.get("architecture"), platform.get("variant")]
        shown = "/".join(str(p) for p in parts if isinstance(p, str) and p)[:64] or None
    media = raw.get("mediaType")
    return Descriptor(
        digest, media if isinstance(media, str) else None, size if isinstance(size, int) else None, shown
    )


def pick_platform(index: Mapping[str, Any], what: str) -> Descriptor:
    """The entry of an index whose config is read (see the module docstring)."""
    entries = index.get("manifests")
    if not isinstance(entries, list) or not entries:
        raise ValidationFailed(f"{what}: an index without manifests")
    found = [_descriptor(e, what) for e in entries[:100]]
    preferred = "/".join(PREFERRED_PLATFORM)
    for entry in found:
        if entry.platform == preferred or (entry.platform or "").startswith(preferred + "/"):
            return entry
    real = [e for e in found if e.platform and not e.platform.startswith("unknown")]
    return (real or found)[0]


def config_of(manifest: Mapping[str, Any], what: str) -> Descriptor:
    """The config descriptor of an image manifest, refused when it says it is too large."""
    config = _descriptor(manifest.get("config"), what)
    if config.size is not None and config.size > MAX_CONFIG_BYTES:
        raise ValidationFailed(f"{what}: the config is {config.size} bytes (at most {MAX_CONFIG_BYTES} read)")
    return config


def labels_of(media_type: str | None, config: Mapping[str, Any]) -> dict[str, str]:
    """The config's labels (a Helm chart's ``sources``/``version`` as the OCI labels)."""
    if media_type == HELM_CONFIG:
        sources = config.get("sources")
        first = sources[0] if isinstance(sources, list) and sources else None
        chart = {SOURCE: first, VERSION: config.get("version")}
        return {k: v[:MAX_LABEL] for k, v in chart.items() if isinstance(v, str) and v}
    inner = config.get("config")
    raw = inner.get("Labels") if isinstance(inner, dict) else None
    if not isinstance(raw, dict):
        return {}
    out: dict[str, str] = {}
    for key, value in list(raw.items())[:MAX_LABELS]:
        if isinstance(key, str) and isinstance(value, str) and len(key) <= MAX_LABEL:
            out[key] = value[:MAX_LABEL]
    return out

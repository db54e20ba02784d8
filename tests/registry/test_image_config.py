"""``RegistryClient.image_config`` against a real CNCF Distribution registry: the labels of an
image's config (pushed by skopeo), of one platform of an index (pushed by HTTP PUTs), and a Helm
chart's ``sources``."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import requests

from bot.registry import RegistryClient
from tests.registry.support import OCI_CONFIG, LocalRegistry

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
SOURCE = "org.opencontainers.image.source"
REVISION = "org.opencontainers.image.revision"


def _client(registry: LocalRegistry) -> RegistryClient:
    return RegistryClient(insecure=frozenset({registry.host}))


def _upload(
    registry: LocalRegistry, repository: str, blob: bytes, session: requests.Session
) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    started = session.post(f"{registry.url}/v2/{repository}/blobs/uploads/", timeout=30)
    assert started.status_code == 202, started.text
    location = requests.compat.urljoin(registry.url, started.headers["Location"])
    put = session.put(location, params={"digest": digest}, data=blob, timeout=30)
    assert put.status_code == 201, put.text
    return {"digest": digest, "size": len(blob)}


def _put_manifest(
    registry: LocalRegistry, repository: str, ref: str, body: dict[str, Any], session: requests.Session
) -> dict[str, Any]:
    data = json.dumps(body).encode()
    media = body["mediaType"]
    resp = session.put(
        f"{registry.url}/v2/{repository}/manifests/{ref}",
        data=data,
        headers={"Content-Type": media},
        timeout=30,
    )
    assert resp.status_code == 201, resp.text
    return {"mediaType": media, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}


def _image(
    registry: LocalRegistry,
    repository: str,
    config: dict[str, Any],
    session: requests.Session,
    *,
    media: str = OCI_CONFIG,
    tag: str | None = None,
) -> dict[str, Any]:
    blob = _upload(registry, repository, json.dumps(config).encode(), session)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": media, **blob},
        "layers": [],
    }
    return _put_manifest(
        registry, repository, tag or blob["digest"].replace(":", "-")[:40], manifest, session
    )


def _config(arch: str, source: str) -> dict[str, Any]:
    labels = {SOURCE: source, REVISION: arch * 8}
    return {
        "architecture": arch,
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
        "config": {"Labels": labels},
    }


def test_the_labels_of_an_image_pushed_by_skopeo(local_registry: LocalRegistry) -> None:
    labels = {
        SOURCE: "https://github.com/acme/api",
        REVISION: "a" * 40,
        "org.opencontainers.image.version": "1.4.0",
    }
    local_registry.push("acme/api", "1.4.0", labels=labels)

    found = _client(local_registry).image_config(local_registry.image("acme/api"), "1.4.0")

    assert found is not None
    assert (found.source, found.revision, found.version) == ("https://github.com/acme/api", "a" * 40, "1.4.0")
    assert found.platform is None


def test_an_index_reads_its_linux_amd64_image_past_attestations(local_registry: LocalRegistry) -> None:
    with requests.Session() as session:
        arm = _image(local_registry, "acme/multi", _config("arm64", "https://github.com/acme/arm"), session)
        amd = _image(local_registry, "acme/multi", _config("amd64", "https://github.com/acme/amd"), session)
        attestation = _image(local_registry, "acme/multi", {"predicate": "x"}, session)
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {**attestation, "platform": {"os": "unknown", "architecture": "unknown"}},
                {**arm, "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
                {**amd, "platform": {"os": "linux", "architecture": "amd64"}},
            ],
        }
        _put_manifest(local_registry, "acme/multi", "2.0.0", index, session)

    found = _client(local_registry).image_config(local_registry.image("acme/multi"), "2.0.0")

    assert found is not None
    assert found.source == "https://github.com/acme/amd" and found.platform == "linux/amd64"


def test_a_helm_charts_sources_and_version_read_as_labels(local_registry: LocalRegistry) -> None:
    chart = {
        "name": "podinfo",
        "version": "6.5.1",
        "apiVersion": "v2",
        "sources": ["https://github.com/stefanprodan/podinfo"],
    }
    with requests.Session() as session:
        _image(local_registry, "charts/podinfo", chart, session, media=HELM_CONFIG, tag="6.5.1")

    found = _client(local_registry).image_config(local_registry.image("charts/podinfo"), "6.5.1")

    assert found is not None
    assert (found.source, found.version) == ("https://github.com/stefanprodan/podinfo", "6.5.1")


def test_a_missing_tag_has_no_config(local_registry: LocalRegistry) -> None:
    local_registry.push("acme/api", "1.0.0")
    client = _client(local_registry)
    assert client.image_config(local_registry.image("acme/api"), "9.9.9") is None
    found = client.image_config(local_registry.image("acme/api"), "1.0.0")
    assert found is not None and found.source is None  # an image without labels: known, no source

"""A config blob handed to object storage, as GHCR and Docker Hub hand theirs: the redirect is
followed with no credentials, only to an ``https`` DNS name; a manifest's is still refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import responses

from bot.errors import ValidationFailed
from bot.registry import RegistryClient
from tests.registry.fixtures import basic_auth, write_docker_config

REG = "https://registry.example.com/v2/acme/api"
CONFIG = json.dumps(
    {"config": {"Labels": {"org.opencontainers.image.source": "https://github.com/acme/api"}}}
).encode()
DIGEST = "sha256:" + hashlib.sha256(CONFIG).hexdigest()
MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": DIGEST,
        "size": len(CONFIG),
    },
    "layers": [],
}


def _client(tmp_path: Path) -> RegistryClient:
    config = write_docker_config(
        tmp_path / "config.json", {"registry.example.com": basic_auth("ci", "s3cret")}
    )
    return RegistryClient(docker_config=config)


def _registry(location: str) -> None:
    """A registry wanting basic credentials (asked once), whose config blob is elsewhere."""
    challenge = {"WWW-Authenticate": 'Basic realm="registry"'}
    responses.get(f"{REG}/manifests/1.4.0", status=401, headers=challenge, json={"errors": []})
    responses.get(f"{REG}/manifests/1.4.0", json=MANIFEST, content_type=MANIFEST["mediaType"])
    responses.get(f"{REG}/blobs/{DIGEST}", status=307, headers={"Location": location})


@responses.activate
def test_a_config_in_object_storage_is_read_without_credentials(tmp_path: Path) -> None:
    storage = "https://pkg-containers.example.net/blob?sig=abc"
    _registry(storage)
    responses.get(storage, body=CONFIG)

    found = _client(tmp_path).image_config("registry.example.com/acme/api", "1.4.0")

    assert found is not None and found.source == "https://github.com/acme/api"
    sent = {
        call.request.url.split("?")[0]: call.request.headers.get("Authorization") for call in responses.calls
    }
    assert sent[f"{REG}/blobs/{DIGEST}"] is not None  # the registry got its credentials
    assert sent["https://pkg-containers.example.net/blob"] is None  # the storage none


@pytest.mark.parametrize(
    "location",
    [
        "http://pkg-containers.example.net/blob",  # not https
        "https://169.254.169.254/latest/meta-data/",  # an address, not a name
        "https://[::1]:8443/blob",
        "https://localhost/blob",
    ],
)
@responses.activate
def test_a_config_redirected_to_an_address_or_plain_http_is_refused(tmp_path: Path, location: str) -> None:
    _registry(location)
    with pytest.raises(ValidationFailed, match="redirected to another host"):
        _client(tmp_path).image_config("registry.example.com/acme/api", "1.4.0")
    assert len(responses.calls) == 3  # nothing was sent there


@responses.activate
def test_a_manifest_redirected_elsewhere_is_still_refused(tmp_path: Path) -> None:
    responses.get(f"{REG}/manifests/1.4.0", status=307, headers={"Location": "https://cdn.example.net/m"})
    with pytest.raises(ValidationFailed, match="redirected to another host"):
        _client(tmp_path).image_config("registry.example.com/acme/api", "1.4.0")
    assert len(responses.calls) == 1


@responses.activate
def test_a_config_whose_bytes_are_not_its_digest_is_refused(tmp_path: Path) -> None:
    storage = "https://pkg-containers.example.net/blob"
    _registry(storage)
    responses.get(storage, body=CONFIG + b" ")
    with pytest.raises(ValidationFailed, match="does not match its digest"):
        _client(tmp_path).image_config("registry.example.com/acme/api", "1.4.0")

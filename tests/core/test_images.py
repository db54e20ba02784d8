from __future__ import annotations

import pytest

from bot.core.images import ImageRef, canonical_name, parse_image, same_image
from bot.errors import InvalidReference

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "registry", "path", "tag", "digest"),
    [
        ("nginx", None, "nginx", None, None),
        ("nginx:1.25", None, "nginx", "1.25", None),
        ("library/nginx:latest", None, "library/nginx", "latest", None),
        ("ghcr.io/acme/api:v1.2.3", "ghcr.io", "acme/api", "v1.2.3", None),
        ("localhost:32000/app", "localhost:32000", "app", None, None),
        ("localhost:32000/app:1.0", "localhost:32000", "app", "1.0", None),
        ("localhost/app", "localhost", "app", None, None),
        ("app:32000", None, "app", "32000", None),
        (f"ghcr.io/acme/api:1.2@{DIGEST}", "ghcr.io", "acme/api", "1.2", DIGEST),
        (f"ghcr.io/acme/api@{DIGEST}", "ghcr.io", "acme/api", None, DIGEST),
        (
            "registry.example.com:5000/team/sub/app:2024.01.02-abc",
            "registry.example.com:5000",
            "team/sub/app",
            "2024.01.02-abc",
            None,
        ),
        ("Registry.Example.com/app", "Registry.Example.com", "app", None, None),
        ("[::1]:5000/app:1", "[::1]:5000", "app", "1", None),
        ("a__b/c--d/e.f:_x", None, "a__b/c--d/e.f", "_x", None),
    ],
)
def test_parse_splits_registry_path_tag_digest(text, registry, path, tag, digest) -> None:
    ref = parse_image(text)
    assert (ref.registry, ref.path, ref.tag, ref.digest) == (registry, path, tag, digest)
    assert str(ref) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("nginx:", "invalid tag"),
        ("nginx:-bad", "invalid tag"),
        ("nginx:" + "a" * 129, "invalid tag"),
        ("nginx@sha256:abc", "invalid digest"),
        ("nginx@sha256:" + "A" * 64, "lower-case hex"),
        ("acme/API:1", "must be lower-case"),
        ("acme//api", "invalid characters"),
        ("acme/api_:1", "invalid characters"),
        ("ngi nx", "white space"),
        (":1.0", "no repository"),
    ],
)
def test_invalid_references_say_why(text: str, reason: str) -> None:
    with pytest.raises(InvalidReference, match=reason):
        parse_image(text)


@pytest.mark.parametrize(
    "spelling",
    [
        "nginx",
        "docker.io/nginx",
        "docker.io/library/nginx",
        "index.docker.io/library/nginx",
        "DOCKER.IO/library/nginx",
        "nginx:1.0",
        f"nginx@{DIGEST}",
    ],
)
def test_docker_hub_spellings_normalise_to_one_name(spelling: str) -> None:
    assert parse_image(spelling).canonical_name == "docker.io/library/nginx"


def test_normalisation_is_never_a_prefix_match() -> None:
    assert not same_image("mastodon", "mastodon-streaming")
    assert not same_image("ghcr.io/acme/api", "ghcr.io/acme/api-worker")
    assert same_image("GHCR.io/acme/api:1", "ghcr.io/acme/api:2")
    assert canonical_name("Quay.io/Org/App") == "quay.io/org/app"


def test_with_version_keeps_name_as_written() -> None:
    ref = parse_image("localhost:32000/app")
    assert str(ref.with_version("1.2.3", None)) == "localhost:32000/app:1.2.3"
    assert ImageRef(None, "x/y", None, DIGEST).name == "x/y"

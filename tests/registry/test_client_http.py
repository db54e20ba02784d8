"""The registry client against ``responses`` shaped exactly as the registries answer: Docker Hub's
anonymous token flow, credentials from a Docker config.json (basic and identitytoken), the HEAD→GET
fallback, Link paging, and the error table (429, 5xx, 401/403, dropped connections)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from bot.errors import (
    AuthError,
    InvalidReference,
    NotFound,
    PermissionDenied,
    RateLimited,
    SettingsError,
    Transient,
    ValidationFailed,
)
from bot.metrics import REGISTRY_REQUESTS
from bot.registry import RegistryClient
from bot.registry.auth import parse_challenge
from bot.registry.names import locate
from tests.registry.fixtures import basic_auth, write_docker_config

HUB = "https://registry-1.docker.io/v2"
HUB_TOKEN = "https://auth.docker.io/token"
NGINX_INDEX = "sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


def hub_challenge(path: str) -> str:
    return f'Bearer realm="{HUB_TOKEN}",service="registry.docker.io",scope="repository:{path}:pull"'


def hub_token_body(token: str = "hub-token-1") -> dict[str, object]:
    return {"token": token, "access_token": token, "expires_in": 300, "issued_at": "2024-05-02T09:12:44.123Z"}


def unauthorized(url: str, path: str, method: str = responses.HEAD) -> None:
    body = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required", "detail": None}]}
    responses.add(method, url, status=401, json=body, headers={"WWW-Authenticate": hub_challenge(path)})


@responses.activate
def test_docker_hub_anonymous_flow_normalises_the_name_and_costs_three_requests() -> None:
    url = f"{HUB}/library/nginx/manifests/1.27"
    unauthorized(url, "library/nginx")
    responses.add(responses.GET, HUB_TOKEN, json=hub_token_body())
    responses.add(
        responses.HEAD,
        url,
        headers={"Docker-Content-Digest": NGINX_INDEX, "Content-Type": INDEX_TYPE, "Content-Length": "10229"},
    )

    found = RegistryClient().resolve("nginx", "1.27")

    assert found is not None
    assert (found.image, found.tag, found.digest, found.media_type) == (
        "docker.io/library/nginx",
        "1.27",
        NGINX_INDEX,
        INDEX_TYPE,
    )
    assert len(responses.calls) == 3
    token_query = parse_qs(urlsplit(responses.calls[1].request.url).query)
    assert token_query == {"scope": ["repository:library/nginx:pull"], "service": ["registry.docker.io"]}
    assert "Authorization" not in responses.calls[1].request.headers  # anonymous
    final = responses.calls[2].request
    assert final.headers["Authorization"] == "Bearer hub-token-1"
    for media_type in (
        INDEX_TYPE,
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ):
        assert media_type in final.headers["Accept"]


@responses.activate
def test_token_is_reused_until_it_expires() -> None:
    now = [0.0]
    client = RegistryClient(cache_ttl=0, clock=lambda: now[0])
    url = f"{HUB}/library/nginx/manifests/1.27"
    unauthorized(url, "library/nginx")
    responses.add(responses.GET, HUB_TOKEN, json=hub_token_body("t1"))
    responses.add(responses.HEAD, url, headers={"Docker-Content-Digest": NGINX_INDEX})
    responses.add(responses.HEAD, url, headers={"Docker-Content-Digest": NGINX_INDEX})
    client.resolve("docker.io/library/nginx", "1.27")
    client.resolve("docker.io/library/nginx", "1.27")
    assert len(responses.calls) == 4  # the second resolve: one HEAD with the cached token

    now[0] = 301.0  # expired: fetched again before the request, no 401 round trip
    responses.add(responses.GET, HUB_TOKEN, json=hub_token_body("t2"))
    responses.add(responses.HEAD, url, headers={"Docker-Content-Digest": NGINX_INDEX})
    client.resolve("nginx", "1.27")
    assert len(responses.calls) == 6
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer t2"


@responses.activate
def test_basic_credentials_from_docker_config_go_to_the_token_realm(tmp_path: Path) -> None:
    config = write_docker_config(
        tmp_path / "config.json", {"https://index.docker.io/v1/": basic_auth("acme", "pw1")}
    )
    url = f"{HUB}/acme/private/manifests/2.0"
    unauthorized(url, "acme/private")
    responses.add(responses.GET, HUB_TOKEN, json=hub_token_body())
    responses.add(responses.HEAD, url, headers={"Docker-Content-Digest": NGINX_INDEX})

    assert RegistryClient(docker_config=config).exists("acme/private", "2.0")

    sent = responses.calls[1].request.headers["Authorization"]
    assert sent == "Basic " + base64.b64encode(b"acme:pw1").decode()


@responses.activate
def test_identitytoken_is_exchanged_as_an_oauth2_refresh_token(tmp_path: Path) -> None:
    host = "acme.azurecr.io"
    config = write_docker_config(
        tmp_path / "config.json",
        {
            host: {
                "auth": base64.b64encode(b"00000000-0000-0000-0000-000000000000:").decode(),
                "identitytoken": "rt-1",
            }
        },
    )
    url = f"https://{host}/v2/shop/api/manifests/1.0"
    challenge = f'Bearer realm="https://{host}/oauth2/token",service="{host}"'
    responses.add(responses.HEAD, url, status=401, headers={"WWW-Authenticate": challenge})
    responses.add(responses.POST, f"https://{host}/oauth2/token", json={"access_token": "acr-access"})
    responses.add(responses.HEAD, url, headers={"Docker-Content-Digest": NGINX_INDEX})

    assert RegistryClient(docker_config=config).resolve(f"{host}/shop/api", "1.0") is not None

    form = parse_qs(responses.calls[1].request.body)
    assert form["grant_type"] == ["refresh_token"]
    assert form["refresh_token"] == ["rt-1"]
    assert form["scope"] == ["repository:shop/api:pull"]
    assert form["service"] == [host]
    assert responses.calls[2].request.headers["Authorization"] == "Bearer acr-access"


@responses.activate
def test_basic_challenge_is_answered_with_basic_credentials(tmp_path: Path) -> None:
    config = write_docker_config(tmp_path / "c.json", {"registry.acme.dev": basic_auth("bot", "pw2")})
    url = "https://registry.acme.dev/v2/shop/api/manifests/1.0"
    responses.add(
        responses.HEAD, url, status=401, headers={"WWW-Authenticate": 'Basic realm="Registry Realm"'}
    )
    responses.add(responses.HEAD, url, headers={"Docker-Content-Digest": NGINX_INDEX})

    assert RegistryClient(docker_config=config).exists("registry.acme.dev/shop/api", "1.0")
    assert responses.calls[1].request.headers["Authorization"].startswith("Basic ")


@responses.activate
def test_head_without_digest_falls_back_to_get_and_computes_it() -> None:
    manifest = json.dumps(
        {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}
    ).encode()
    url = "https://quay.io/v2/acme/api/manifests/1.0"
    responses.add(responses.HEAD, url, headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    responses.add(
        responses.GET, url, body=manifest, content_type="application/vnd.oci.image.manifest.v1+json"
    )

    found = RegistryClient().resolve("quay.io/acme/api", "1.0")

    assert found is not None and found.digest == "sha256:" + hashlib.sha256(manifest).hexdigest()
    assert [c.request.method for c in responses.calls] == ["HEAD", "GET"]


@responses.activate
def test_registry_that_refuses_head_is_asked_with_get() -> None:
    url = "https://registry.acme.dev/v2/shop/api/manifests/1.0"
    responses.add(responses.HEAD, url, status=405)
    responses.add(responses.GET, url, body=b"{}", headers={"Docker-Content-Digest": NGINX_INDEX})

    found = RegistryClient().resolve("registry.acme.dev/shop/api", "1.0")
    assert found is not None and found.digest == NGINX_INDEX


@responses.activate
def test_oversized_manifest_is_refused() -> None:
    url = "https://registry.acme.dev/v2/shop/api/manifests/1.0"
    responses.add(responses.HEAD, url)
    responses.add(responses.GET, url, body=b"x" * (4 * 1024 * 1024 + 1))

    with pytest.raises(ValidationFailed, match="larger than"):
        RegistryClient().resolve("registry.acme.dev/shop/api", "1.0")


@responses.activate
def test_tags_follow_relative_link_pages_on_the_same_registry() -> None:
    base = "https://ghcr.io/v2/acme/api/tags/list"
    responses.add(
        responses.GET,
        base,
        json={"name": "acme/api", "tags": ["1.0.0", "1.1.0"]},
        headers={"Link": '</v2/acme/api/tags/list?last=1.1.0&n=2>; rel="next"'},
        match=[responses.matchers.query_param_matcher({"n": "2"})],
    )
    responses.add(
        responses.GET,
        base,
        json={"name": "acme/api", "tags": ["2.0.0"]},
        match=[responses.matchers.query_param_matcher({"last": "1.1.0", "n": "2"})],
    )

    assert RegistryClient(page_size=2).list_tags("ghcr.io/acme/api") == ("1.0.0", "1.1.0", "2.0.0")


@responses.activate
def test_a_next_page_on_another_host_is_refused() -> None:
    responses.add(
        responses.GET,
        "https://ghcr.io/v2/acme/api/tags/list",
        json={"tags": ["1.0.0"]},
        headers={"Link": '<https://evil.example.com/v2/acme/api/tags/list?last=1.0.0>; rel="next"'},
    )
    with pytest.raises(ValidationFailed, match="another host"):
        RegistryClient().list_tags("ghcr.io/acme/api")


@responses.activate
def test_too_many_tags_are_refused_not_truncated() -> None:
    responses.add(
        responses.GET, "https://ghcr.io/v2/acme/api/tags/list", json={"tags": [f"t{i}" for i in range(6)]}
    )
    with pytest.raises(ValidationFailed, match="more than 5 tags"):
        RegistryClient(max_tags=5).list_tags("ghcr.io/acme/api")


@responses.activate
def test_unknown_repository_when_listing_is_not_found() -> None:
    body = {"errors": [{"code": "NAME_UNKNOWN", "message": "repository name not known to registry"}]}
    responses.add(responses.GET, "https://ghcr.io/v2/acme/gone/tags/list", status=404, json=body)
    with pytest.raises(NotFound, match=r"not found in ghcr\.io"):
        RegistryClient().list_tags("ghcr.io/acme/gone")


@responses.activate
def test_rate_limit_carries_retry_after_and_nothing_sleeps() -> None:
    body = {"errors": [{"code": "TOOMANYREQUESTS", "message": "You have reached your pull rate limit."}]}
    responses.add(
        responses.GET,
        "https://ghcr.io/v2/acme/api/tags/list",
        status=429,
        json=body,
        headers={"Retry-After": "42"},
    )
    with pytest.raises(RateLimited) as caught:
        RegistryClient().list_tags("ghcr.io/acme/api")
    assert caught.value.retry_after == 42.0
    assert "TOOMANYREQUESTS" in str(caught.value)
    assert len(responses.calls) == 1


@responses.activate
def test_server_errors_and_dropped_connections_are_transient() -> None:
    url = "https://ghcr.io/v2/acme/api/manifests/1.0"
    responses.add(responses.HEAD, url, status=503)
    with pytest.raises(Transient, match="HTTP 503"):
        RegistryClient().resolve("ghcr.io/acme/api", "1.0")
    responses.replace(responses.HEAD, url, body=requests.ConnectionError("reset"))
    with pytest.raises(Transient, match=r"ConnectionError talking to ghcr\.io"):
        RegistryClient().resolve("ghcr.io/acme/api", "1.0")


@responses.activate
def test_forbidden_names_registry_and_source_and_is_permanent(tmp_path: Path) -> None:
    config = write_docker_config(tmp_path / "config.json", {"ghcr.io": basic_auth("bot", "ghp_secretvalue")})
    url = "https://ghcr.io/v2/acme/api/manifests/1.0"
    challenge = 'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:acme/api:pull"'
    responses.add(responses.HEAD, url, status=401, headers={"WWW-Authenticate": challenge})
    responses.add(responses.GET, "https://ghcr.io/token", json={"token": "t"})
    responses.add(responses.HEAD, url, status=403)

    with pytest.raises(PermissionDenied) as caught:
        RegistryClient(docker_config=config).resolve("ghcr.io/acme/api", "1.0")
    message = str(caught.value)
    assert "ghcr.io" in message and f'auths["ghcr.io"] in {config}' in message
    assert "ghp_secretvalue" not in message and caught.value.permanent


@responses.activate
def test_refused_anonymous_token_says_it_was_anonymous() -> None:
    url = f"{HUB}/acme/private/manifests/1.0"
    unauthorized(url, "acme/private")
    responses.add(responses.GET, HUB_TOKEN, status=401, json={"details": "incorrect username or password"})
    with pytest.raises(
        AuthError, match=r"docker\.io did not accept anonymous \(MANIFEST_BOT_DOCKER_CONFIG is not set\)"
    ):
        RegistryClient().resolve("acme/private", "1.0")


@responses.activate
def test_requests_are_counted_in_metrics() -> None:
    before = REGISTRY_REQUESTS.labels(registry="quay.io", kind="manifest", status="200")._value.get()
    responses.add(
        responses.HEAD,
        "https://quay.io/v2/acme/api/manifests/1.0",
        headers={"Docker-Content-Digest": NGINX_INDEX},
    )
    RegistryClient().resolve("quay.io/acme/api", "1.0")
    after = REGISTRY_REQUESTS.labels(registry="quay.io", kind="manifest", status="200")._value.get()
    assert after == before + 1


def test_references_with_a_tag_or_digest_are_refused_as_repositories() -> None:
    with pytest.raises(InvalidReference, match="without a tag"):
        RegistryClient().list_tags("ghcr.io/acme/api:1.0")
    with pytest.raises(InvalidReference):
        RegistryClient().resolve("ghcr.io/acme/api", "-bad")


@pytest.mark.parametrize(
    ("image", "origin", "path"),
    [
        ("nginx", "https://registry-1.docker.io", "library/nginx"),
        ("index.docker.io/acme/app", "https://registry-1.docker.io", "acme/app"),
        ("ghcr.io/acme/api", "https://ghcr.io", "acme/api"),
        ("localhost:5000/app", "http://localhost:5000", "app"),
        ("127.0.0.7:5000/app", "http://127.0.0.7:5000", "app"),
        ("[::1]:5000/app", "http://[::1]:5000", "app"),
        ("10.0.0.5:5000/app", "https://10.0.0.5:5000", "app"),
        ("registry.lab:5000/app", "http://registry.lab:5000", "app"),  # listed as insecure
        ("registry.lab/app", "https://registry.lab", "app"),  # the listed port only
    ],
)
def test_where_a_repository_is_asked(image: str, origin: str, path: str) -> None:
    repo = locate(image, frozenset({"registry.lab:5000"}))
    assert (repo.origin, repo.path) == (origin, path)


def test_challenge_parsing_keeps_quoted_commas() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://a.io/token",service="a.io",scope="repository:x:pull,push"'
    )
    assert challenge is not None and (challenge.realm, challenge.service) == ("https://a.io/token", "a.io")
    assert parse_challenge("Negotiate abc") is None


def test_docker_config_is_reread_when_it_changes(tmp_path: Path) -> None:
    from bot.registry.credentials import DockerConfig

    path = write_docker_config(tmp_path / "config.json", {"ghcr.io": basic_auth("bot", "old")})
    config = DockerConfig(path)
    assert config.for_host("ghcr.io").password == "old"
    write_docker_config(path, {"ghcr.io": basic_auth("bot", "refreshed-by-sidecar")})
    assert config.for_host("ghcr.io").password == "refreshed-by-sidecar"
    assert "refreshed" not in repr(config.for_host("ghcr.io"))
    assert config.for_host("quay.io").anonymous


def test_unreadable_docker_config_is_a_settings_error(tmp_path: Path) -> None:
    from bot.registry.credentials import DockerConfig

    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(SettingsError, match="not a readable JSON"):
        DockerConfig(bad).for_host("ghcr.io")
    bad.write_text(json.dumps({"auths": {"ghcr.io": {"auth": "bm90LWEtcGFpcg=="}}}))  # "not-a-pair"
    with pytest.raises(SettingsError, match="not base64 of user:password"):
        DockerConfig(bad).for_host("ghcr.io")
    bad.write_text(json.dumps({"credsStore": "desktop", "auths": {}}))
    assert "credsStore/credHelpers are not used" in DockerConfig(bad).for_host("ghcr.io").source

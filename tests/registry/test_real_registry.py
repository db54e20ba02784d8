"""The registry client against a real CNCF Distribution registry (docker-registry) with images pushed
by skopeo: digests, absent tags, tag paging, the token flow and its request counts, wrong
credentials, the digest cache, and the registry's own notification reaching an HTTP endpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import sources
from bot.core.events import ImagePushed
from bot.errors import AuthError
from bot.registry import RegistryClient
from tests.doubles import CountedSession
from tests.registry.fixtures import basic_auth, write_docker_config
from tests.registry.support import LocalRegistry, run_registry, wait_for, webhook_receiver


def test_resolve_returns_the_digest_skopeo_pushed(local_registry: LocalRegistry) -> None:
    digest = local_registry.push("acme/api", "1.4.2")
    client = RegistryClient()

    found = client.resolve(local_registry.image("acme/api"), "1.4.2")

    assert found is not None
    assert found.digest == digest
    assert found.image == local_registry.image("acme/api")
    assert found.media_type == "application/vnd.oci.image.manifest.v1+json"
    assert client.exists(local_registry.image("acme/api"), "1.4.2")


def test_absent_tag_and_absent_repository_are_none_not_errors(local_registry: LocalRegistry) -> None:
    local_registry.push("acme/api", "1.0.0")
    client = RegistryClient()

    assert client.resolve(local_registry.image("acme/api"), "9.9.9") is None
    assert client.resolve(local_registry.image("acme/nothing-here"), "1.0.0") is None
    assert not client.exists(local_registry.image("acme/api"), "9.9.9")


def test_a_tag_pushed_after_a_miss_is_found_at_once(local_registry: LocalRegistry) -> None:
    client = RegistryClient(cache_ttl=300)
    image = local_registry.image("acme/api")
    assert client.resolve(image, "2.0.0") is None  # CI announced before the push finished

    digest = local_registry.push("acme/api", "2.0.0")

    found = client.resolve(image, "2.0.0")
    assert found is not None and found.digest == digest


def test_tags_are_listed_in_one_request_with_a_warm_token(token_registry: LocalRegistry) -> None:
    pushed = {f"1.{i}.0" for i in range(5)}
    for tag in sorted(pushed):
        token_registry.push("acme/web", tag)
    counted = CountedSession()
    client = RegistryClient(session=counted.session)
    client.resolve(token_registry.image("acme/web"), "1.0.0")  # warms the token
    before = counted.count

    tags = client.list_tags(token_registry.image("acme/web"))

    assert set(tags) == pushed and len(tags) == 5
    assert counted.count - before == 1  # docker-registry 2.8 answers every tag on one page


def test_digest_cache_serves_until_its_ttl_and_fresh_asks_the_registry(local_registry: LocalRegistry) -> None:
    now = [1000.0]
    client = RegistryClient(cache_ttl=30, clock=lambda: now[0])
    image = local_registry.image("acme/api")
    first = local_registry.push("acme/api", "latest")
    assert client.resolve(image, "latest").digest == first  # type: ignore[union-attr]

    second = local_registry.push("acme/api", "latest")  # the mutable tag moves

    assert client.resolve(image, "latest").digest == first  # type: ignore[union-attr]
    assert client.resolve(image, "latest", fresh=True).digest == second  # type: ignore[union-attr]
    now[0] += 31
    assert client.resolve(image, "latest").digest == second  # type: ignore[union-attr]


def test_token_registry_cold_costs_three_requests_then_one(token_registry: LocalRegistry) -> None:
    token_registry.push("acme/api", "1.0.0")
    token_registry.push("acme/api", "1.1.0")
    token_registry.push("acme/web", "1.0.0")
    counted = CountedSession()
    client = RegistryClient(session=counted.session)

    assert client.resolve(token_registry.image("acme/api"), "1.0.0") is not None
    assert counted.count == 3  # 401 with the challenge, the token, the HEAD

    assert client.resolve(token_registry.image("acme/api"), "1.1.0") is not None
    assert counted.count == 4  # token cached: one HEAD

    assert client.resolve(token_registry.image("acme/web"), "1.0.0") is not None
    assert counted.count == 6  # another repository of a known registry: its token, the HEAD

    assert client.resolve(token_registry.image("acme/api"), "1.0.0") is not None
    assert counted.count == 6  # the digest cache answers
    assert token_registry.token is not None
    scopes = [r["query"]["scope"] for r in token_registry.token.requests if not r["authorized"]]
    assert scopes == ["repository:acme/api:pull", "repository:acme/web:pull"]  # anonymous pull tokens


def test_token_registry_with_credentials_from_docker_config(
    token_registry: LocalRegistry, tmp_path: Path
) -> None:
    token_registry.push("acme/private", "3.0.0")
    issuer = token_registry.token
    assert issuer is not None
    config = write_docker_config(
        tmp_path / "config.json", {token_registry.host: basic_auth(issuer.username, issuer.password)}
    )
    client = RegistryClient(docker_config=config)

    assert client.list_tags(token_registry.image("acme/private")) == ("3.0.0",)
    assert issuer.requests[-1]["authorized"] is True  # basic credentials went to the token realm


def test_wrong_credentials_name_the_registry_and_the_source_never_the_secret(
    token_registry: LocalRegistry, tmp_path: Path
) -> None:
    token_registry.push("acme/api", "1.0.0")
    config = write_docker_config(
        tmp_path / "config.json", {f"https://{token_registry.host}": basic_auth("ci-bot", "not-the-password")}
    )
    client = RegistryClient(docker_config=config)

    with pytest.raises(AuthError) as caught:
        client.resolve(token_registry.image("acme/api"), "1.0.0")

    message = str(caught.value)
    assert token_registry.host in message
    assert f'auths["{token_registry.host}"] in {config}' in message
    assert "not-the-password" not in message
    assert caught.value.permanent


def test_the_registry_delivers_a_notification_our_source_reads(tmp_path: Path) -> None:
    with (
        webhook_receiver() as (url, received),
        run_registry(
            tmp_path / "notifying", notify_url=url, notify_headers={"X-Manifest-Bot-Token": "s3cret"}
        ) as reg,
    ):
        digest = reg.push("acme/api", "4.2.0")

        def pushed() -> list[ImagePushed]:
            events = []
            for delivery in list(received):
                sources.get("distribution").verify(delivery.headers, delivery.body, ("s3cret",))
                events += [
                    e for e in sources.get("distribution").parse(delivery.headers, delivery.body).events
                ]
            return events  # type: ignore[return-value]

        wait_for(lambda: bool(pushed()), 15, "the registry's manifest push notification")

    assert pushed() == [
        ImagePushed(f"{reg.host}/acme/api", "4.2.0", digest, "distribution", pushed()[0].pushed_at)
    ]
    delivery = next(d for d in received if b'"tag": "4.2.0"' in d.body or b'"tag":"4.2.0"' in d.body)
    assert delivery.headers["content-type"] == "application/vnd.docker.distribution.events.v1+json"
    assert sources.detect(delivery.headers, delivery.body) == "distribution"
    ignored = [sources.get("distribution").parse(d.headers, d.body).ignored_reason for d in received]
    assert any(r and "is not a manifest" in r for r in ignored)  # the blob pushes, with their reason

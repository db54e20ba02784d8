"""The second attack round against the registry client, over real loopback sockets: a redirect to
another host never carries credentials or a challenge (attack 1), nor sends a request to a host the
config did not name (attack 2); a token realm elsewhere gets no credentials; a trickling registry
is cut at the total deadline (attack 3); a registry's free text never reaches an error message."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from bot.errors import AuthError, Transient, ValidationFailed
from bot.registry import RegistryClient
from tests.registry.fixtures import basic_auth, write_docker_config
from tests.registry.hostile import Handler, HostileRegistry, reply, trickle

DIGEST = "sha256:" + "ab" * 32
FOUND = reply(200, {"Docker-Content-Digest": DIGEST})


def _client(tmp_path: Path, host: str, **kwargs: object) -> RegistryClient:
    config = write_docker_config(tmp_path / "config.json", {host: basic_auth("ci-bot", "s3cret-pass")})
    return RegistryClient(docker_config=config, cache_ttl=0, timeout=kwargs.pop("timeout", 5.0), **kwargs)  # type: ignore[arg-type]


def test_a_redirect_to_another_host_carries_no_credentials_and_no_challenge(tmp_path: Path) -> None:
    def its_own_realm(h: Handler) -> None:
        realm = f"http://localhost:{evil.port}/token"
        if h.path.startswith("/token"):
            reply(200, body=json.dumps({"token": "evil-token"}).encode())(h)
        elif h.headers.get("Authorization") == "Bearer evil-token":
            FOUND(h)
        else:
            reply(401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="evil"'})(h)

    evil = HostileRegistry(its_own_realm)
    registry = HostileRegistry(
        reply(307, {"Location": f"http://localhost:{evil.port}/v2/shop/api/manifests/1.0"})
    )
    refused = pytest.raises(ValidationFailed, match="redirected to another host")
    with evil.serving(), registry.serving(), refused:
        _client(tmp_path, registry.host).resolve(f"{registry.host}/shop/api", "1.0")
    assert evil.seen == []
    assert all(seen.authorization is None for seen in registry.seen)


def test_a_redirect_to_another_port_sends_nothing_there(tmp_path: Path) -> None:
    inner = HostileRegistry(FOUND)
    registry = HostileRegistry(reply(302, {"Location": f"http://127.0.0.1:{inner.port}/admin"}))
    with inner.serving(), registry.serving(), pytest.raises(ValidationFailed, match="refused"):
        RegistryClient(cache_ttl=0).resolve(f"{registry.host}/shop/api", "1.0")
    assert inner.seen == []


def test_a_same_origin_redirect_is_followed(tmp_path: Path) -> None:
    def moved(h: Handler) -> None:
        if h.path.startswith("/v2/shop/api/"):
            reply(301, {"Location": h.path.replace("/shop/api/", "/shop/api-moved/")})(h)
        else:
            FOUND(h)

    registry = HostileRegistry(moved)
    with registry.serving():
        found = RegistryClient(cache_ttl=0).resolve(f"{registry.host}/shop/api", "1.0")
    assert found is not None and found.digest == DIGEST


def _token_realm_elsewhere(token_server: HostileRegistry) -> HostileRegistry:
    def answer(h: Handler) -> None:
        if h.headers.get("Authorization") == "Bearer t1":
            FOUND(h)
        else:
            realm = f"http://localhost:{token_server.port}/token"
            reply(401, {"WWW-Authenticate": f'Bearer realm="{realm}",service="s"'})(h)

    return HostileRegistry(answer)


def test_credentials_go_to_a_token_realm_on_another_host_only_when_listed(tmp_path: Path) -> None:
    tokens = HostileRegistry(reply(200, body=json.dumps({"token": "t1"}).encode()))
    registry = _token_realm_elsewhere(tokens)
    with tokens.serving(), registry.serving():
        image = f"{registry.host}/shop/api"
        with pytest.raises(AuthError, match="MANIFEST_BOT_REGISTRY_TOKEN_REALMS") as refused:
            _client(tmp_path, registry.host).resolve(image, "1.0")
        assert tokens.seen == []
        assert "s3cret" not in str(refused.value)

        listed = {registry.host: f"localhost:{tokens.port}"}
        assert _client(tmp_path, registry.host, token_realms=listed).resolve(image, "1.0") is not None
        assert [s.authorization is not None for s in tokens.seen] == [True]

        tokens.seen.clear()  # no credentials to lose: an anonymous token request is harmless
        assert RegistryClient(cache_ttl=0).resolve(image, "1.0") is not None
        assert [s.authorization for s in tokens.seen] == [None]


def test_a_trickling_registry_is_cut_at_the_total_deadline() -> None:
    stop = threading.Event()
    registry = HostileRegistry(trickle(stop))  # one header line every 0.25 s for 15 s
    with registry.serving():
        started = time.monotonic()
        with pytest.raises(Transient, match="did not answer within 1 s"):
            RegistryClient(cache_ttl=0, timeout=1.0).resolve(f"{registry.host}/shop/api", "1.0")
        held = time.monotonic() - started
        stop.set()
    assert held < 1.5


def test_a_registry_error_text_is_reduced_to_its_codes() -> None:
    body = {"errors": [{"code": "DENIED", "message": "@example/admins <img src=x> see https://evil.test"}]}
    registry = HostileRegistry(reply(400, {"Content-Type": "application/json"}, json.dumps(body).encode()))
    with registry.serving():
        client = RegistryClient(cache_ttl=0)
        with pytest.raises(ValidationFailed) as failed:
            client.list_tags(f"{registry.host}/shop/api")
    assert str(failed.value) == f"list tags of {registry.host}/shop/api: HTTP 400 (DENIED)"

"""Registry authentication: anonymous, basic, and the bearer-token flow of the distribution spec.

A registry that wants a token answers 401 with ``WWW-Authenticate: Bearer realm="…",service="…",
scope="…"`` (Docker Hub, GHCR, Quay, Harbor, GitLab, ACR, a token-auth ``registry:2``). We ask the
realm for a token scoped ``repository:<path>:pull`` — anonymously, with basic credentials, or with
an ``identitytoken`` as an OAuth2 refresh token (POST ``grant_type=refresh_token``) — and cache it
until shortly before ``expires_in`` runs out. The challenge is remembered per API host, so the
first request for another repository of a known registry fetches its token straight away: a cold
resolve costs 401 + token + HEAD (3 requests), a new repository of a known registry 2, then 1.

**Where credentials go.** The challenge is taken only from the registry's own 401 (the transport
follows no redirect to another origin). Basic credentials and identity tokens go to a token realm
only on the registry's own host (any port: a token service beside it) or on a realm host listed
for it: ``TOKEN_REALM_PRESETS`` (Docker Hub's ``auth.docker.io``, GitLab.com's ``gitlab.com``)
and ``MANIFEST_BOT_REGISTRY_TOKEN_REALMS`` (``registry.example.com=auth.example.com``). A realm
elsewhere gets an anonymous token request when there are no credentials to lose, and is refused
when there are; each refusal is logged with the hosts, never the secret.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.errors import AuthError
from bot.registry.credentials import Credential
from bot.registry.names import Repository
from bot.registry.transport import Transport, error_for

#: Docker's token spec: a token without ``expires_in`` lives 60 s
DEFAULT_TOKEN_TTL_S = 60.0
_PARAM_RE = re.compile(r'([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
_MAX_TOKENS = 4096
#: registries whose token service is on another host, by their documented setup
TOKEN_REALM_PRESETS: Mapping[str, str] = {"docker.io": "auth.docker.io", "registry.gitlab.com": "gitlab.com"}
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # "bearer" or "basic"
    realm: str | None = None
    service: str | None = None


def parse_challenge(header: str | None) -> Challenge | None:
    """``Bearer realm="…",service="…"`` or ``Basic realm="…"``; None when neither scheme is offered."""
    if not header:
        return None
    scheme, _, rest = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("bearer", "basic"):
        return None
    params = {m[1].lower(): (m[2] if m[2] is not None else m[3]) for m in _PARAM_RE.finditer(rest)}
    params = {k: v.replace('\\"', '"') for k, v in params.items()}
    return Challenge(scheme, params.get("realm") or None, params.get("service") or None)


def scope_for(repo: Repository) -> str:
    return f"repository:{repo.path}:pull"


class Authenticator:
    """Authorization headers per repository; one per client (tokens are per API host and scope)."""

    def __init__(
        self,
        transport: Transport,
        credential_for: Callable[[str], Credential],
        clock: Callable[[], float],
        token_realms: Mapping[str, str] | None = None,
    ):
        self._transport = transport
        listed = {h.lower(): r.lower() for h, r in (token_realms or {}).items()}
        self._realms = {**TOKEN_REALM_PRESETS, **listed}
        self._credential_for = credential_for
        self._clock = clock
        self._lock = threading.Lock()
        self._challenges: dict[str, Challenge | None] = {}  # api host → its challenge (None: open)
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}  # (api host, scope) → token, expiry

    def credential(self, repo: Repository) -> Credential:
        return self._credential_for(repo.host)

    def known(self, repo: Repository) -> bool:
        return repo.api_host in self._challenges

    def headers(self, repo: Repository) -> dict[str, str]:
        """What to send before the registry asked: a cached or freshly fetched token when the host
        is known to want one, basic credentials when it wants those, nothing otherwise."""
        with self._lock:
            challenge = self._challenges.get(repo.api_host)
        if challenge is None:
            return {}
        return self._authorize(repo, challenge)

    def challenged(self, repo: Repository, header: str | None, what: str) -> dict[str, str]:
        """The registry answered 401: learn its challenge, drop the stale token, authorize anew."""
        challenge = parse_challenge(header)
        credential = self.credential(repo)
        if challenge is None:
            raise AuthError(
                f"{what}: {repo.host} answered 401 without a usable challenge ({credential.source})"
            )
        with self._lock:
            self._challenges[repo.api_host] = challenge
            self._tokens.pop((repo.api_host, scope_for(repo)), None)
        return self._authorize(repo, challenge)

    def open(self, repo: Repository) -> None:
        """The registry answered without asking for credentials: remember it needs none."""
        with self._lock:
            self._challenges.setdefault(repo.api_host, None)

    def _authorize(self, repo: Repository, challenge: Challenge) -> dict[str, str]:
        credential = self.credential(repo)
        if challenge.scheme == "basic":
            return _basic_header(repo, credential)
        key = (repo.api_host, scope_for(repo))
        now = self._clock()
        with self._lock:
            cached = self._tokens.get(key)
        if cached is not None and cached[1] > now:
            return {"Authorization": f"Bearer {cached[0]}"}
        token, ttl = self._fetch_token(repo, challenge, credential)
        with self._lock:
            if len(self._tokens) >= _MAX_TOKENS:
                self._tokens.clear()
            self._tokens[key] = (token, now + max(ttl - 10.0, ttl / 2))
        return {"Authorization": f"Bearer {token}"}

    def _fetch_token(
        self, repo: Repository, challenge: Challenge, credential: Credential
    ) -> tuple[str, float]:
        what = f"token for {repo.image}"
        if not challenge.realm or not challenge.realm.startswith(("https://", "http://")):
            raise AuthError(f"{what}: {repo.host} named no usable token realm ({credential.source})")
        if challenge.realm.startswith("http://") and repo.scheme == "https":
            raise AuthError(f"{what}: {repo.host} sent its token realm over plain HTTP; refused")
        realm_host = challenge.realm.split("://", 1)[1].split("/", 1)[0].lower()
        scope = scope_for(repo)
        if not self._realm_bound(repo, realm_host):
            if not credential.anonymous:
                log.warning("token realm refused", extra={"registry": repo.host, "realm": realm_host[:100]})
                raise AuthError(
                    f"{what}: {repo.host} names its token service on {realm_host[:100]}, another host; "
                    f"its credentials ({credential.source}) are not sent there. If that is its token "
                    f"service, list it: MANIFEST_BOT_REGISTRY_TOKEN_REALMS={repo.host}={realm_host[:100]}"
                )
            credential = Credential(credential.source)
        if credential.identity_token is not None:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": credential.identity_token,
                "scope": scope,
                "client_id": "manifest-bot",
            }
            if challenge.service:
                form["service"] = challenge.service
            resp = self._transport.send(
                "POST", challenge.realm, host=realm_host, kind="token", what=what, data=form
            )
        else:
            params = {"scope": scope, **({"service": challenge.service} if challenge.service else {})}
            resp = self._transport.send(
                "GET",
                challenge.realm,
                host=realm_host,
                kind="token",
                what=what,
                params=params,
                auth=credential.basic,
            )
        if resp.status_code != 200:
            raise error_for(resp, what, repo.host, credential.source)
        return _token_from(resp.body, what, repo, credential)

    def _realm_bound(self, repo: Repository, realm_host: str) -> bool:
        """The realm is on the registry's host (any port) or the one listed for it."""
        name = _hostname(realm_host)
        return name in (_hostname(repo.host), _hostname(repo.api_host)) or self._realms.get(
            repo.host.lower()
        ) in (realm_host, name)


def _basic_header(repo: Repository, credential: Credential) -> dict[str, str]:
    basic = credential.basic
    if basic is None:
        raise AuthError(f"{repo.host} wants basic credentials and has none ({credential.source})")
    raw = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def _token_from(body: bytes, what: str, repo: Repository, credential: Credential) -> tuple[str, float]:
    try:
        data: Any = json.loads(body)
    except ValueError:
        data = None
    token = None
    if isinstance(data, dict):
        token = data.get("token") or data.get("access_token")
    if not isinstance(token, str) or not token:
        raise AuthError(f"{what}: {repo.host}'s token endpoint returned no token ({credential.source})")
    expires = data.get("expires_in")
    ttl = float(expires) if isinstance(expires, int | float) and expires > 0 else DEFAULT_TOKEN_TTL_S
    return token, ttl


def _hostname(netloc: str) -> str:
    """``host[:port]`` → host (``[::1]:5000`` → ``[::1]``), lowercased."""
    netloc = netloc.lower().rsplit("@", 1)[-1]
    if netloc.startswith("["):
        return netloc.split("]", 1)[0] + "]"
    return netloc.split(":", 1)[0]

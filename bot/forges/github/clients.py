"""PyGithub clients per credential: a token, or a GitHub App with one client per installation.

App flow, all of it PyGithub's (``Auth.AppAuth`` signs the JWT, ``GithubIntegration`` finds the
installation, ``Auth.AppInstallationAuth`` fetches the installation token and refreshes it before
it expires):

- ``client(repo)`` finds the repo's installation once (``GET /repos/{owner}/{repo}/installation``,
  skipped when the config names the installation) and keeps one ``Github`` client per installation;
- ``forget(repo)`` after a 401 drops the repo's installation and its client, so the next call finds
  the installation again and fetches a fresh token;
- ``forget_installation(id, repos)`` on an ``installation`` / ``installation_repositories`` webhook
  (wired through ``bot.deps``) drops every cached piece that event may have made stale.

Every client runs with retries and throttling off (``retry=metering.NoRetry(forge)``, which also
counts each request; ``seconds_between_requests=None``, ``seconds_between_writes=None``: our jobs
retry, a worker never sleeps inside a call) and ``lazy`` objects (a ``get_…`` builds an object
without a request; a request is sent only when data is read).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from github import Auth, Consts, Github, GithubIntegration
from github.GithubException import GithubException

from bot.errors import AuthError, NotFound
from bot.forges.errors_map import error_for_github
from bot.forges.github.metering import TIMEOUT_S, NoRetry

USER_AGENT = "manifest-bot"
PER_PAGE = 100


@dataclass(frozen=True, slots=True)
class TokenCredentials:
    """A personal, fine-grained or Actions token."""

    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class AppCredentials:
    """A GitHub App: its id and private key (PEM), and optionally the one installation to use."""

    app_id: int
    private_key: str = field(repr=False)
    installation_id: int | None = None


Credentials = TokenCredentials | AppCredentials


def client_options(api_url: str, forge: str = "github") -> dict[str, Any]:
    """Keyword arguments shared by every ``Github`` / ``GithubIntegration`` we build; ``forge`` is
    the config's name, the metrics label of its requests."""
    return {
        "base_url": api_url.rstrip("/"),
        "timeout": TIMEOUT_S,
        "user_agent": USER_AGENT,
        "per_page": PER_PAGE,
        "retry": NoRetry(forge),
        "seconds_between_requests": None,
        "seconds_between_writes": None,
        "lazy": True,
    }


class Clients(Protocol):
    def client(self, repo: str) -> Github:
        """The client authorised for ``repo``."""
        ...

    def forget(self, repo: str) -> None:
        """A request on ``repo`` answered 401: drop what authorised it."""
        ...

    def forget_installation(self, installation_id: int, repos: Sequence[str] = ()) -> None:
        """An installation changed (webhook): drop what it may have made stale."""
        ...


class TokenClients:
    """One client for every repository; a token has nothing to refresh."""

    def __init__(self, credentials: TokenCredentials, api_url: str, forge: str = "github") -> None:
        if not credentials.token:
            raise AuthError("GitHub token is empty")
        self._github = Github(auth=Auth.Token(credentials.token), **client_options(api_url, forge))

    def client(self, repo: str) -> Github:
        return self._github

    def forget(self, repo: str) -> None:
        """Nothing cached: the same token is sent again (and refused again if revoked)."""

    def forget_installation(self, installation_id: int, repos: Sequence[str] = ()) -> None:
        """A token is not an installation."""

    def __repr__(self) -> str:
        return "TokenClients(***)"


def _signer(app_id: int, private_key: str) -> Callable[[dict[str, Any]], str | bytes]:
    """PyGithub's RS256 signer, with an unusable key reported as AuthError without the key."""
    sign = Auth.AppAuth.create_jwt_sign(private_key, Consts.DEFAULT_JWT_ALGORITHM)

    def signed(payload: dict[str, Any]) -> str | bytes:
        try:
            return sign(payload)
        except Exception as exc:  # PyJWT and cryptography raise several unrelated types for bad keys
            raise AuthError(f"GitHub App {app_id}: private key is unusable ({type(exc).__name__})") from None

    return signed


class AppClients:
    """Installation clients of one GitHub App, cached by installation and found by repository."""

    def __init__(self, credentials: AppCredentials, api_url: str, forge: str = "github") -> None:
        self.app_id = credentials.app_id
        self._fixed = credentials.installation_id
        self._app_auth = Auth.AppAuth(
            credentials.app_id, sign_func=_signer(credentials.app_id, credentials.private_key)
        )
        self._options = client_options(api_url, forge)
        self._integration = GithubIntegration(auth=self._app_auth, **self._options)
        self._installations: dict[str, int] = {}
        self._clients: dict[int, Github] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AppClients(app_id={self.app_id}, key=***)"

    def installation_id(self, repo: str) -> int:
        if self._fixed is not None:
            return self._fixed
        with self._lock:
            cached = self._installations.get(repo)
        if cached is not None:
            return cached
        owner, _, name = repo.partition("/")
        try:
            found = int(self._integration.get_repo_installation(owner, name).id)
        except GithubException as exc:
            if exc.status == 404:
                raise NotFound(f"GitHub App {self.app_id} is not installed on {repo}") from None
            raise error_for_github(exc, f"find the App installation of {repo}") from None
        with self._lock:
            self._installations[repo] = found
        return found

    def client(self, repo: str) -> Github:
        iid = self.installation_id(repo)
        with self._lock:
            github = self._clients.get(iid)
            if github is None:
                auth = Auth.AppInstallationAuth(self._app_auth, iid)
                github = self._clients[iid] = Github(auth=auth, **self._options)
        try:
            _ = github.requester.auth.token  # fetched here (or reused), so its failures say so
        except GithubException as exc:
            self.forget(repo)
            raise error_for_github(exc, f"create an installation token for {repo}") from None
        return github

    def forget(self, repo: str) -> None:
        with self._lock:
            iid = self._fixed if self._fixed is not None else self._installations.pop(repo, None)
            if iid is not None:
                self._clients.pop(iid, None)

    def forget_installation(self, installation_id: int, repos: Sequence[str] = ()) -> None:
        names = {r.lower() for r in repos}
        with self._lock:
            self._clients.pop(installation_id, None)
            for repo, iid in list(self._installations.items()):
                if iid == installation_id or repo.lower() in names:
                    self._installations.pop(repo, None)
                    self._clients.pop(iid, None)


def build_clients(credentials: Credentials, api_url: str, forge: str = "github") -> Clients:
    if isinstance(credentials, AppCredentials):
        return AppClients(credentials, api_url, forge)
    return TokenClients(credentials, api_url, forge)

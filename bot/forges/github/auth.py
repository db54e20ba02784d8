"""GitHub credentials: a plain token, or a GitHub App (JWT → installation per repo → token).

App flow (docs.github.com "Authenticating as a GitHub App installation"):
1. a JWT signed RS256 with the App's private key (``iss`` = App id, ``exp`` ≤ 10 minutes);
2. ``GET /repos/{owner}/{repo}/installation`` with the JWT → the installation id (cached per repo);
3. ``POST /app/installations/{id}/access_tokens`` with the JWT → ``{"token", "expires_at"}``,
   cached per installation and refreshed ``refresh_margin_s`` before it expires (tokens live 1h).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

import jwt
import requests

from bot.errors import AuthError, NotFound
from bot.forges.http import HttpClient

API_VERSION = "2022-11-28"
BASE_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}


class GitHubAuth(ABC):
    """Gives the headers for a request on ``repo``; ``invalidate`` drops a credential after a 401."""

    @abstractmethod
    def headers_for(self, repo: str | None) -> Mapping[str, str]:
        """Headers (``Authorization`` included) for a request about ``repo`` (None: not repo-bound)."""

    def invalidate(self, repo: str | None) -> None:  # noqa: B027 - optional hook, no-op by default
        """Forget a cached credential (a plain token has nothing to forget)."""


class TokenAuth(GitHubAuth):
    """A personal, fine-grained or Actions token."""

    def __init__(self, token: str) -> None:
        if not token:
            raise AuthError("GitHub token is empty")
        self._headers = {**BASE_HEADERS, "Authorization": f"Bearer {token}"}

    def headers_for(self, repo: str | None) -> Mapping[str, str]:
        return self._headers

    def __repr__(self) -> str:  # never show the token
        return "TokenAuth(***)"


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires_at: float


class AppAuth(GitHubAuth):
    """GitHub App installation tokens, looked up per repo and cached until shortly before expiry."""

    def __init__(
        self,
        app_id: int,
        private_key: str,
        *,
        api_url: str = "https://api.github.com",
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
        refresh_margin_s: float = 300.0,
        installation_id: int | None = None,
    ) -> None:
        self.app_id = app_id
        #: a configured installation serves every repo and saves the per-repo lookup
        self._fixed_installation = installation_id
        self._key = private_key
        self._clock = clock
        self._margin = refresh_margin_s
        self._http = HttpClient(api_url, self._jwt_headers, session=session, forge="github-app")
        self._installations: dict[str, int] = {}
        self._tokens: dict[int, _Token] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AppAuth(app_id={self.app_id}, key=***)"

    # --- JWT ---------------------------------------------------------------------------------
    def app_jwt(self) -> str:
        now = int(self._clock())
        # iat 60s in the past absorbs clock drift; exp well under GitHub's 10-minute ceiling
        claims = {"iat": now - 60, "exp": now + 540, "iss": str(self.app_id)}
        try:
            return jwt.encode(claims, self._key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise AuthError(
                f"GitHub App {self.app_id}: private key is unusable ({type(exc).__name__})"
            ) from None

    def _jwt_headers(self, _repo: str | None) -> Mapping[str, str]:
        return {**BASE_HEADERS, "Authorization": f"Bearer {self.app_jwt()}"}

    # --- installation and token ----------------------------------------------------------------
    def installation_id(self, repo: str) -> int:
        if self._fixed_installation is not None:
            return self._fixed_installation
        with self._lock:
            cached = self._installations.get(repo)
        if cached is not None:
            return cached
        try:
            resp = self._http.request(
                "GET", f"/repos/{repo}/installation", f"find App installation on {repo}"
            )
        except NotFound:
            raise NotFound(f"GitHub App {self.app_id} is not installed on {repo}") from None
        iid = int(resp.json()["id"])
        with self._lock:
            self._installations[repo] = iid
        return iid

    def token(self, repo: str) -> str:
        iid = self.installation_id(repo)
        now = self._clock()
        with self._lock:
            cached = self._tokens.get(iid)
        if cached is not None and cached.expires_at - self._margin > now:
            return cached.value
        resp = self._http.request(
            "POST", f"/app/installations/{iid}/access_tokens", f"create installation token for {repo}"
        )
        body = resp.json()
        expires = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00")).timestamp()
        fresh = _Token(body["token"], expires)
        with self._lock:
            self._tokens[iid] = fresh
        return fresh.value

    def headers_for(self, repo: str | None) -> Mapping[str, str]:
        if repo is None:
            raise AuthError("GitHub App auth needs a repository to choose the installation")
        return {**BASE_HEADERS, "Authorization": f"Bearer {self.token(repo)}"}

    def invalidate(self, repo: str | None) -> None:
        if repo is None:
            return
        with self._lock:
            iid = self._installations.get(repo)
            if iid is not None:
                self._tokens.pop(iid, None)

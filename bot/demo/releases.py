"""A GitHub Enterprise that only publishes releases, for the demo's release notes (and the tests
that check them through the running service): ``GET /api/v3/repos/{owner}/{repo}/releases/tags/{tag}``
on a free loopback port, answered as GitHub's OpenAPI description defines the operation (a
``release``, or the ``basic-error`` 404; ``tests/contracts`` validates both against
``@octokit/openapi``). Requests without the expected token are answered 401, as GitHub does.

The bot reaches it as a ``github`` forge with ``api_url: http://127.0.0.1:<port>/api/v3`` (its web
root is then ``http://127.0.0.1:<port>``, which the images' source labels name).
"""

from __future__ import annotations

import http.server
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

_ROUTE = re.compile(r"/api/v3/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/releases/tags/(?P<tag>[^/?]+)")
_STAMP = "2026-01-05T10:00:00Z"
_DOCS = "https://docs.github.com/rest/releases/releases#get-a-release-by-tag-name"


@dataclass(frozen=True, slots=True)
class PublishedRelease:
    repo: str  # owner/name
    tag: str
    name: str
    body: str
    author: str = "octocat"


def _user(api: str, web: str, login: str) -> dict[str, Any]:
    url = f"{api}/users/{login}"
    return {
        "login": login,
        "id": 583231,
        "node_id": "MDQ6VXNlcjU4MzIzMQ==",
        "avatar_url": f"{web}/avatars/u/583231",
        "gravatar_id": "",
        "url": url,
        "html_url": f"{web}/{login}",
        "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events",
        "type": "User",
        "site_admin": False,
    }


def release_shape(api: str, web: str, release: PublishedRelease, release_id: int) -> dict[str, Any]:
    """A ``release`` as GitHub answers ``GET /repos/{owner}/{repo}/releases/tags/{tag}``."""
    url = f"{api}/repos/{release.repo}/releases/{release_id}"
    tag = quote(release.tag, safe="")
    return {
        "url": url,
        "html_url": f"{web}/{release.repo}/releases/tag/{tag}",
        "assets_url": f"{url}/assets",
        "upload_url": f"{web}/api/uploads/repos/{release.repo}/releases/{release_id}/assets{{?name,label}}",
        "tarball_url": f"{api}/repos/{release.repo}/tarball/{tag}",
        "zipball_url": f"{api}/repos/{release.repo}/zipball/{tag}",
        "id": release_id,
        "node_id": f"RE_kwDO{release_id:08d}",
        "tag_name": release.tag,
        "target_commitish": "main",
        "name": release.name,
        "body": release.body,
        "draft": False,
        "prerelease": False,
        "created_at": _STAMP,
        "published_at": _STAMP,
        "author": _user(api, web, release.author),
        "assets": [],
    }


@dataclass
class ReleasesServer:
    token: str
    releases: list[PublishedRelease] = field(default_factory=list)
    #: every request path answered, in order (tests count them)
    requests: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def web(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.web}/api/v3"

    def source(self, repo: str) -> str:
        """What an image's ``org.opencontainers.image.source`` label says for ``repo``."""
        return f"{self.web}/{repo}"

    def answer(self, path: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        self.requests.append(path)
        if authorization != f"token {self.token}":
            return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
        match = _ROUTE.fullmatch(path.split("?", 1)[0])
        if match is not None:
            repo, tag = f"{match['owner']}/{match['repo']}", unquote(match["tag"])
            for number, release in enumerate(self.releases, start=1):
                if release.repo == repo and release.tag == tag:
                    return 200, release_shape(self.api, self.web, release, number)
        return 404, {"message": "Not Found", "documentation_url": _DOCS}

    @contextmanager
    def serving(self) -> Iterator[ReleasesServer]:
        server_state = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = server_state.answer(self.path, self.headers.get("Authorization"))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("X-Fake", "github")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = int(server.server_address[1])
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()

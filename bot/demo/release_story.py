"""The demo's release notes, with real registries: every image it pushes carries the labels a CI
build sets (``org.opencontainers.image.source``, ``.revision``, ``.version``), and a GitHub
Enterprise on a loopback port (``bot.demo.releases``, a ``github`` forge of the demo's routing
config, its token in a file) publishes the release of ``shop/web`` 1.4.0. The dev PR then links
the changes of ``example/api`` between the build dev runs (``run-40``) and the newest green one,
and folds web 1.4.0's release notes, sanitised, in ``<details>``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from bot.demo.releases import PublishedRelease, ReleasesServer

TOKEN = "demo-releases-token"
FORGE = "releases"
#: image repository → the application repository its source label names
APPS = {"shop/web": "example/shop-web", "shop/worker": "example/shop-worker", "example/api": "example/api"}
WEB_NOTES = (
    "## What's changed\n"
    "- Checkout keeps the basket when the session expires (#12), thanks @alice\n"
    "- Faster product pages: images are lazy-loaded\n\n"
    "<b>Upgrade note:</b> no configuration changes.\n"
)
RELEASES = (PublishedRelease("example/shop-web", "v1.4.0", "Web 1.4.0", WEB_NOTES, author="alice"),)
_CI_TAG = re.compile(r"run-(\d+)")


def server() -> ReleasesServer:
    return ReleasesServer(TOKEN, list(RELEASES))


def forge_entry(releases: ReleasesServer, workdir: Path) -> str:
    """The routing config's forge for it (the token is read from a file, never written inline)."""
    token = workdir / "releases-token"
    token.write_text(TOKEN, encoding="utf-8")
    token.chmod(0o600)
    return f"  - {{name: {FORGE}, kind: github, api_url: '{releases.api}', token: 'file:{token}'}}\n"


def revision(repository: str, tag: str) -> str:
    """The commit a build came from: a CI run's is the sha its workflow_run names."""
    run = _CI_TAG.fullmatch(tag)
    if run is not None:
        return f"{int(run[1]):02d}" * 20
    return hashlib.sha1(f"{repository}:{tag}".encode()).hexdigest()


def labels(releases: ReleasesServer | None, repository: str, tag: str) -> dict[str, str] | None:
    """The labels a build of ``repository:tag`` carries (None: the demo runs without releases)."""
    app = APPS.get(repository)
    if releases is None or app is None:
        return None
    return {
        "org.opencontainers.image.source": releases.source(app),
        "org.opencontainers.image.revision": revision(repository, tag),
        "org.opencontainers.image.version": tag,
    }


def problems(body: str, releases: ReleasesServer) -> list[str]:
    """What the dev PR's body should show and does not."""
    out = []
    api = releases.source("example/api")
    compare = f"{api}/compare/{revision('example/api', 'run-40')}...{revision('example/api', 'run-45')}"
    wanted = {
        "the release notes section": "**Release notes:**",
        "web 1.4.0's release folded in <details>": "<details><summary>registry.example.com/shop/web v1.4.0",
        "the api's compare link from run-40 to run-45": compare,
        "the mention in the release text as a code span": "`@alice`",
    }
    out += [f"the dev PR body lacks {what}" for what, text in wanted.items() if text not in body]
    if "<b>" in body:
        out.append("the dev PR body renders HTML of the release text")
    return out

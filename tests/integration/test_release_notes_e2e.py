"""Release notes through the running service: the web app, a ``manifest-bot worker`` process,
Redis, a local git manifest repo, a CNCF Distribution registry (skopeo pushes images whose configs
carry ``org.opencontainers.image.*`` labels, and the registry notifies the bot itself) and a
GitHub Enterprise publishing releases (``bot.demo.releases``, configured as a ``github`` forge).

- a labelled push → the PR body links the changes between the two revisions and folds the
  release, sanitised, in ``<details>``; at most two forge requests for the version;
- a push without a source label → the PR moves on without notes, and the group says why.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator

import pytest

from bot.demo.releases import PublishedRelease, ReleasesServer
from bot.forges.local.adapter import LocalGitForge
from tests.integration.test_registry_e2e import REPO, Stack, notified, stack  # noqa: F401 - fixture
from tests.integration.world import wait_for
from tests.registry.support import run_registry

pytestmark = pytest.mark.slow
TOKEN = "ghe-releases-token"
SOURCE = "org.opencontainers.image.source"
REVISION = "org.opencontainers.image.revision"
HOSTILE = "Fixed the login bug.\n\nThanks @alice! See #12.\n</details><img src=x onerror=alert(1)>\n"


@pytest.fixture
def releases() -> Iterator[ReleasesServer]:
    server = ReleasesServer(TOKEN, [PublishedRelease("acme/app", "v1.1.0", "App 1.1.0", HOSTILE)])
    with server.serving():
        yield server


def _body(built: Stack) -> str:
    prs = [p for p in LocalGitForge(built.root / "git").list_prs(REPO) if p.state == "open"]
    return prs[0].body if prs else ""


def _groups(built: Stack) -> list[dict[str, object]]:
    with urllib.request.urlopen(f"{built.base_url}/api/groups", timeout=10) as resp:
        return list(json.loads(resp.read())["groups"])


def _with_releases_forge(built: Stack, releases: ReleasesServer) -> None:
    path = built.settings.config_path
    assert path is not None
    text = path.read_text()
    forge = f"{{name: ghe, kind: github, api_url: '{releases.api}', token: 'env:RELEASES_TOKEN'}}"
    path.write_text(text.replace("forges: [", f"forges: [{forge}, ", 1))


def test_a_labelled_push_brings_its_release_notes_and_an_unlabelled_one_says_why(
    stack: Stack,  # noqa: F811
    releases: ReleasesServer,
) -> None:
    notify = f"{stack.base_url}/webhooks/distribution"
    with run_registry(stack.root / "registry", notify_url=notify, notify_headers=notified(stack)) as registry:
        stack.registry = registry
        source = releases.source("acme/app")
        registry.push("acme/app", "1.0.0", labels={SOURCE: source, REVISION: "a" * 40})
        stack.write_world(f"    image: {stack.image}\n")
        _with_releases_forge(stack, releases)
        stack.start_workers(RELEASES_TOKEN=TOKEN)

        registry.push("acme/app", "1.1.0", labels={SOURCE: source, REVISION: "b" * 40})

        wait_for(lambda: "<details><summary>" in _body(stack), 60, "the PR with release notes", stack.logs)
        body = _body(stack)
        assert f"{source}/compare/{'a' * 40}...{'b' * 40}" in body
        assert f"[release v1.1.0]({source}/releases/tag/v1.1.0)" in body
        notes = body[body.index("<details><summary>") : body.index("</details>") + len("</details>")]
        assert "`@alice`" in notes and "`#12`" in notes
        assert not re.search(r"(?<!\\)<img", notes) and notes.count("</details>") == 1  # their HTML is text
        release_requests = [r for r in releases.requests if "/releases/tags/" in r]
        assert len(release_requests) <= 2

        registry.push("acme/app", "1.2.0")  # no labels at all

        def moved_without_notes() -> bool:
            return f"{stack.image}:1.2.0" in (stack.pr_file() or "") and "Release notes" not in _body(stack)

        wait_for(moved_without_notes, 60, "the PR at 1.2.0, without notes", stack.logs)
        (group,) = _groups(stack)
        assert group["notes_left_out"] == [f"{stack.image} 1.2.0: its config has no {SOURCE} label"]

"""``ReleaseNotes`` on real parts: a Distribution registry holding labelled images (skopeo), the
GitHub adapter over PyGithub talking to a GitHub Enterprise that publishes releases, and Redis.

Counts what a user pays for: at most two forge requests per image version, none once cached; and
what a user is told when an image gets no notes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import redis
import requests

from bot.core.intents import UpdateIntent
from bot.core.ports import ForgeInfo, Release
from bot.core.render import Row
from bot.demo.registry import free_port
from bot.demo.releases import PublishedRelease, ReleasesServer
from bot.forges.github.adapter import GitHubForge
from bot.forges.github.clients import TokenCredentials
from bot.registry import RegistryClient
from bot.services.release_notes import ReleaseNotes
from bot.settings import Settings
from bot.store.release_notes import NotesCache
from tests.registry.fixtures import local_registry  # noqa: F401 - fixture
from tests.registry.support import LocalRegistry

TOKEN = "ghe-token"
SOURCE = "org.opencontainers.image.source"
REVISION = "org.opencontainers.image.revision"


@pytest.fixture
def releases() -> Iterator[ReleasesServer]:
    server = ReleasesServer(
        TOKEN, [PublishedRelease("acme/api", "v1.4.0", "API 1.4.0", "Fixed a bug, thanks @alice")]
    )
    with server.serving():
        yield server


def _forge(server: ReleasesServer, token: str = TOKEN) -> GitHubForge:
    return GitHubForge(ForgeInfo("ghe", "github"), TokenCredentials(token), api_url=server.api)


def _notes(
    registry: LocalRegistry, server: ReleasesServer, conn: redis.Redis, settings: Settings, token: str = TOKEN
) -> ReleaseNotes:
    client = RegistryClient(insecure=frozenset({registry.host}))
    forge = _forge(server, token)
    return ReleaseNotes(client, lambda: [forge], NotesCache(conn, settings))


def _intent(image: str, tag: str) -> UpdateIntent:
    return UpdateIntent(
        "local", "deploy", "main", "apps", "dev", ("app.yaml",), image, tag, None, "semver", (1, 4, 0)
    )


def _row(image: str, old: str, new: str) -> Row:
    return Row("app.yaml", image, f"{image}:{old}", f"{image}:{new}")


def _push(registry: LocalRegistry, repository: str, tag: str, source: str | None, rev: str) -> str:
    labels = {REVISION: rev, **({SOURCE: source} if source else {})}
    registry.push(repository, tag, labels=labels)
    return registry.image(repository)


def test_an_image_gets_its_compare_link_and_release_in_two_requests_then_none(
    local_registry: LocalRegistry,  # noqa: F811
    releases: ReleasesServer,
    redis_conn: redis.Redis,
    settings: Settings,
) -> None:
    source = releases.source("acme/api")
    image = _push(local_registry, "acme/api", "1.3.0", source, "a" * 40)
    _push(local_registry, "acme/api", "1.4.0", source, "b" * 40)
    notes = _notes(local_registry, releases, redis_conn, settings)

    collected = notes([_intent(image, "1.4.0")], [_row(image, "1.3.0", "1.4.0")])

    assert collected.left_out == ()
    (note,) = collected.notes
    assert (note.old_revision, note.new_revision) == ("a" * 40, "b" * 40)
    assert note.release is not None and note.release.tag == "v1.4.0" and "@alice" in note.release.body
    assert note.repo.web == source
    # 1.4.0 first (no such release), then v1.4.0: two requests for this version
    assert len(releases.requests) == 2

    again = _notes(local_registry, releases, redis_conn, settings)(
        [_intent(image, "1.4.0")], [_row(image, "1.3.0", "1.4.0")]
    )
    assert again.notes == collected.notes
    assert len(releases.requests) == 2  # cached in Redis: no forge request at all


def test_a_source_on_a_foreign_host_is_never_asked_and_says_why(
    local_registry: LocalRegistry,  # noqa: F811
    releases: ReleasesServer,
    redis_conn: redis.Redis,
    settings: Settings,
) -> None:
    image = _push(local_registry, "acme/evil", "2.0.0", "https://evil.example/acme/api", "c" * 40)
    collected = _notes(local_registry, releases, redis_conn, settings)(
        [_intent(image, "2.0.0")], [_row(image, "1.0.0", "2.0.0")]
    )

    assert collected.notes == ()
    (why,) = collected.left_out
    assert (
        "evil.example" in why and "no repository on a GitHub or GitLab forge the bot is configured for" in why
    )
    assert releases.requests == []


def test_an_image_without_a_source_label_or_in_no_registry_says_why(
    local_registry: LocalRegistry,  # noqa: F811
    releases: ReleasesServer,
    redis_conn: redis.Redis,
    settings: Settings,
) -> None:
    plain = _push(local_registry, "acme/plain", "1.0.0", None, "d" * 40)
    missing = local_registry.image("acme/missing")
    intents = [_intent(plain, "1.0.0"), _intent(missing, "3.0.0")]
    rows = [_row(plain, "0.9.0", "1.0.0"), _row(missing, "2.0.0", "3.0.0")]

    collected = _notes(local_registry, releases, redis_conn, settings)(intents, rows)

    assert collected.notes == ()
    assert sorted(collected.left_out) == [
        f"{missing} 3.0.0: the registry does not have it",
        f"{plain} 1.0.0: its config has no {SOURCE} label",
    ]


def test_a_repository_the_bot_cannot_read_leaves_the_release_out_and_is_asked_again_later(
    local_registry: LocalRegistry,  # noqa: F811
    releases: ReleasesServer,
    redis_conn: redis.Redis,
    settings: Settings,
) -> None:
    image = _push(local_registry, "acme/api", "1.4.0", releases.source("acme/api"), "b" * 40)
    notes = _notes(local_registry, releases, redis_conn, settings, token="wrong")

    collected = notes([_intent(image, "1.4.0")], [_row(image, "1.3.0", "1.4.0")])

    (note,) = collected.notes  # the source link stays; the release is left out
    assert note.release is None
    (why,) = collected.left_out
    assert "could not read the releases of acme/api" in why and "wrong" not in why
    assert "the old version's revision is unknown" in why  # 1.3.0 is not in the registry
    asked = len(releases.requests)
    notes([_intent(image, "1.4.0")], [_row(image, "1.3.0", "1.4.0")])
    assert len(releases.requests) == asked  # a refusal is remembered (for an hour), not asked every sync


class _Sent(requests.Session):
    """A session that counts every request it is asked to send (answered or not)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.sent += 1
        return super().request(*args, **kwargs)


def test_without_a_github_or_gitlab_forge_nothing_is_looked_up(
    local_registry: LocalRegistry,  # noqa: F811
    redis_conn: redis.Redis,
    settings: Settings,
) -> None:
    image = _push(local_registry, "acme/api", "1.4.0", "https://github.com/acme/api", "b" * 40)
    session = _Sent()
    client = RegistryClient(insecure=frozenset({local_registry.host}), session=session)
    notes = ReleaseNotes(client, list, NotesCache(redis_conn, settings))

    assert notes([_intent(image, "1.4.0")], [_row(image, "1.3.0", "1.4.0")]).left_out == ()
    assert session.sent == 0


def test_an_unreachable_registry_is_said_once_and_not_asked_again_for_a_while(
    releases: ReleasesServer, redis_conn: redis.Redis, settings: Settings
) -> None:
    image = f"127.0.0.1:{free_port()}/acme/api"  # nothing listens there
    session = _Sent()
    client = RegistryClient(session=session, timeout=2)
    forge = _forge(releases)
    notes = ReleaseNotes(client, lambda: [forge], NotesCache(redis_conn, settings))

    first = notes([_intent(image, "1.4.0")], [_row(image, "1.3.0", "1.4.0")])
    (why,) = first.left_out
    assert why.startswith(f"{image} 1.4.0: could not read its config (")
    asked = session.sent
    assert notes([_intent(image, "1.4.0")], [_row(image, "1.3.0", "1.4.0")]).left_out == first.left_out
    assert session.sent == asked  # remembered: a PR's every sync does not wait on a dead registry


class _CountingForge(GitHubForge):
    asked = 0

    def release(self, repo: str, tags: Sequence[str]) -> Release | None:
        self.asked += 1
        return super().release(repo, tags)


def test_a_forge_that_does_not_answer_is_not_asked_again_for_a_while(
    local_registry: LocalRegistry,  # noqa: F811
    redis_conn: redis.Redis,
    settings: Settings,
) -> None:
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    image = _push(local_registry, "acme/api", "1.4.0", f"{down}/acme/api", "b" * 40)
    forge = _CountingForge(ForgeInfo("ghe", "github"), TokenCredentials(TOKEN), api_url=f"{down}/api/v3")
    client = RegistryClient(insecure=frozenset({local_registry.host}))
    notes = ReleaseNotes(client, lambda: [forge], NotesCache(redis_conn, settings))

    first = notes([_intent(image, "1.4.0")], [_row(image, "1.3.0", "1.4.0")])
    again = notes([_intent(image, "1.4.0")], [_row(image, "1.3.0", "1.4.0")])

    assert "could not read the releases of acme/api" in first.left_out[0]
    assert again.left_out == first.left_out and forge.asked == 1

"""`/manifest-bot merge` merges the way the config says the group's PRs merge, on GitHub and
GitLab too (issue #17): a signed comment through the app, the queue and an rq worker, against the
real adapters (``responses``, bodies shaped as the vendors document them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses

from bot.app import create_app
from bot.deps import Container
from tests.integration.chatops_e2e_fixture import drain, failed, github_comment, gitlab_note
from tests.services.vendor_container import GH, GL, api, vendor_container

HEAD = "2" * 40  # pull.json's and mr.json's head


def target(forge: str, method: str) -> dict[str, Any]:
    return {
        "forge": forge,
        "repo": "acme/deploy",
        "environment": "prod",
        "group": "web",
        "files": ["prod/web.yaml"],
        "pr": {"merge_method": method},
    }


@pytest.fixture
def container(tmp_path: Path, make_settings, redis_conn) -> Iterator[Container]:
    rules = [
        {"name": "web", "image": "ghcr.io/acme/web", "targets": [target("github", "rebase")]},
        {"name": "web-gl", "image": "ghcr.io/acme/web", "targets": [target("gitlab", "squash")]},
    ]
    yield from vendor_container(tmp_path, make_settings, rules)


def body(call: Any) -> Any:
    return json.loads(call.request.body)


@responses.activate
def test_github_merge_uses_the_configured_method(container: Container) -> None:
    writer = {
        "permission": "write",
        "role_name": "write",
        "user": {"login": "alice", "id": 2, "type": "User"},
    }
    responses.post(f"{GH}/issues/comments/31/reactions", json=api("github", "reaction.json"), status=201)
    responses.get(f"{GH}/pulls/7", json=api("github", "pull.json"))
    responses.get(f"{GH}/collaborators/alice/permission", json=writer)
    merge = responses.put(f"{GH}/pulls/7/merge", json=api("github", "merged.json"))
    container.intents.groups.set_fields("github:acme/deploy:main:web", head_branch="manifest-bot/prod/web")
    github_comment(
        create_app(container=container),
        7,
        "/manifest-bot merge",
        author="alice",
        comment_id=31,
        repo="acme/deploy",
    )
    drain(container)
    assert failed(container) == []
    assert merge.call_count == 1
    assert body(merge.calls[0]) == {"merge_method": "rebase", "sha": HEAD}  # the config's, not "merge"
    assert body(responses.calls[-1]) == {"content": "rocket"}


@responses.activate
def test_gitlab_merge_uses_the_configured_method(container: Container) -> None:
    developer = {**api("gitlab", "member_maintainer.json"), "access_level": 30}
    for note in (41, 42):
        responses.post(
            f"{GL}/merge_requests/4/notes/{note}/award_emoji",
            json=api("gitlab", "award_emoji.json"),
            status=201,
        )
    responses.get(f"{GL}/merge_requests/4", json=api("gitlab", "mr.json"))
    responses.get("https://gitlab.example.com/api/v4/users", json=api("gitlab", "users_mona.json"))
    responses.get(f"{GL}/members/all/1", json=developer)
    merge = responses.put(f"{GL}/merge_requests/4/merge", json=api("gitlab", "mr_merged.json"))
    key = "gitlab:acme/deploy:main:web"
    app = create_app(container=container)
    for note, text in ((41, "/manifest-bot merge"), (42, "/manifest-bot squash and merge")):
        container.intents.groups.set_fields(key, head_branch="manifest-bot/prod/web", pr_number=4)
        gitlab_note(app, 4, text, author="mona", note_id=note, repo="acme/deploy")
        drain(container)
    assert failed(container) == []
    assert [body(c)["squash"] for c in merge.calls] == [True, True]  # the config says squash

"""Chat-ops against the real GitHub and GitLab adapters (``responses``; bodies shaped as the
vendors' docs show): a signed delivery goes through the app, the queue and an rq worker, and we
assert every request the bot makes — permission read at execution time, 👀, the reply, 😕/🚀."""

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


@pytest.fixture
def container(tmp_path: Path, make_settings, redis_conn) -> Iterator[Container]:
    yield from vendor_container(tmp_path, make_settings)


def sent(call: Any) -> tuple[str, str, Any]:
    body = call.request.body
    return call.request.method, call.request.url, json.loads(body) if body else None


@responses.activate
def test_github_help_for_anyone_and_a_refusal_for_a_reader(container: Container) -> None:
    permission = {
        "permission": "read",
        "role_name": "read",
        "user": {"login": "octocat", "id": 1, "type": "User"},
    }
    responses.post(f"{GH}/issues/comments/555/reactions", json=api("github", "reaction.json"), status=201)
    responses.get(f"{GH}/pulls/7", json=api("github", "pull.json"))
    responses.get(f"{GH}/collaborators/octocat/permission", json=permission)
    responses.post(f"{GH}/issues/7/comments", json=api("github", "comment.json"), status=201)
    # pull.json is the bot's PR (author manifest-bot[bot]) on the group's branch
    container.intents.groups.set_fields("github:acme/deploy:main:web", head_branch="manifest-bot/prod/web")
    app = create_app(container=container)

    github_comment(
        app, 7, "/manifest-bot help\n/manifest-bot hold", author="octocat", comment_id=555, repo="acme/deploy"
    )
    drain(container)

    assert failed(container) == []
    calls = [sent(c) for c in responses.calls]
    assert [(m, u) for m, u, _ in calls] == [
        ("POST", f"{GH}/issues/comments/555/reactions"),
        ("GET", f"{GH}/pulls/7"),
        ("GET", f"{GH}/collaborators/octocat/permission"),
        ("POST", f"{GH}/issues/7/comments"),
        ("POST", f"{GH}/issues/comments/555/reactions"),
    ]
    assert calls[0][2] == {"content": "eyes"}
    assert calls[4][2] == {"content": "confused"}
    reply = calls[3][2]["body"]
    assert reply.startswith(
        "✅ `/manifest-bot help`: here is what I understand:\n\nCommands: write one per line"
    )
    assert reply.endswith(
        "❌ `/manifest-bot hold`: refused: `hold` needs write permission on this repository; "
        "@octocat has read."
    )


@responses.activate
def test_github_comments_by_bots_cost_no_request(container: Container) -> None:
    app = create_app(container=container)
    github_comment(
        app,
        7,
        "/manifest-bot merge",
        author="renovate[bot]",
        comment_id=9,
        repo="acme/deploy",
        user_type="Bot",
    )
    drain(container)
    assert failed(container) == []
    assert len(responses.calls) == 0


@responses.activate
def test_gitlab_status_needs_a_bot_mr_and_a_reporter_cannot_merge(container: Container) -> None:
    reporter = {**api("gitlab", "member_maintainer.json"), "access_level": 20}
    responses.post(
        f"{GL}/merge_requests/4/notes/777/award_emoji", json=api("gitlab", "award_emoji.json"), status=201
    )
    responses.get(f"{GL}/merge_requests/4", json=api("gitlab", "mr.json"))
    responses.get("https://gitlab.example.com/api/v4/users", json=api("gitlab", "users_mona.json"))
    responses.get(f"{GL}/members/all/1", json=reporter)
    responses.post(f"{GL}/merge_requests/4/notes", json=api("gitlab", "note.json"), status=201)
    app = create_app(container=container)

    gitlab_note(
        app, 4, "@manifest-bot merge\n@manifest-bot status", author="mona", note_id=777, repo="acme/deploy"
    )
    drain(container)

    assert failed(container) == []
    calls = [sent(c) for c in responses.calls]
    assert [(m, u.split("?")[0]) for m, u, _ in calls] == [
        ("POST", f"{GL}/merge_requests/4/notes/777/award_emoji"),
        ("GET", f"{GL}/merge_requests/4"),
        ("GET", "https://gitlab.example.com/api/v4/users"),
        ("GET", f"{GL}/members/all/1"),
        ("POST", f"{GL}/merge_requests/4/notes"),
        ("POST", f"{GL}/merge_requests/4/notes/777/award_emoji"),
    ]
    assert calls[2][1].endswith("?username=mona")
    assert calls[0][2] == {"name": "eyes"}
    assert calls[5][2] == {"name": "confused"}
    assert calls[4][2] == {
        "body": "❌ `@manifest-bot merge`: `@manifest-bot merge` only works on a pull request opened by "
        "manifest-bot (no update group of this repository uses this pull request's branch); "
        "`help` works anywhere.\n"
        "❌ `@manifest-bot status`: `@manifest-bot status` only works on a pull request opened by "
        "manifest-bot (no update group of this repository uses this pull request's branch); "
        "`help` works anywhere."
    }


@responses.activate
def test_gitlab_a_reporter_cannot_merge_the_bots_mr(container: Container) -> None:
    reporter = {**api("gitlab", "member_maintainer.json"), "access_level": 20}
    container.intents.groups.set_fields("gitlab:acme/deploy:main:web", head_branch="manifest-bot/prod/web")
    responses.post(
        f"{GL}/merge_requests/4/notes/778/award_emoji", json=api("gitlab", "award_emoji.json"), status=201
    )
    responses.get(f"{GL}/merge_requests/4", json=api("gitlab", "mr.json"))
    responses.get("https://gitlab.example.com/api/v4/users", json=api("gitlab", "users_mona.json"))
    responses.get(f"{GL}/members/all/1", json=reporter)
    responses.post(f"{GL}/merge_requests/4/notes", json=api("gitlab", "note.json"), status=201)
    app = create_app(container=container)

    gitlab_note(app, 4, "@manifest-bot merge", author="mona", note_id=778, repo="acme/deploy")
    drain(container)

    assert failed(container) == []
    reply = json.loads(responses.calls[-2].request.body)["body"]
    assert reply == (
        "❌ `@manifest-bot merge`: refused: `merge` needs write permission on this repository; "
        "@mona has triage."
    )
    assert not any(c.request.method == "PUT" for c in responses.calls)


@responses.activate
def test_gitlab_merge_waits_for_a_pipeline_on_the_head_and_cancel_merge_stops_it(
    container: Container,
) -> None:

    from bot.jobs.automerge import auto_merge_when_ready

    key = "gitlab:acme/deploy:main:web"
    container.intents.groups.set_fields(key, head_branch="manifest-bot/prod/web", pr_number=4)
    waiting = {**api("gitlab", "mr.json"), "detailed_merge_status": "ci_still_running", "head_pipeline": None}
    developer = {**api("gitlab", "member_maintainer.json"), "access_level": 30}
    responses.post(
        f"{GL}/merge_requests/4/notes/7/award_emoji", json=api("gitlab", "award_emoji.json"), status=201
    )
    responses.post(
        f"{GL}/merge_requests/4/notes/8/award_emoji", json=api("gitlab", "award_emoji.json"), status=201
    )
    responses.get(f"{GL}/merge_requests/4", json=waiting)
    responses.get("https://gitlab.example.com/api/v4/users", json=api("gitlab", "users_mona.json"))
    responses.get(f"{GL}/members/all/1", json=developer)
    responses.post(f"{GL}/merge_requests/4/notes", json=api("gitlab", "note.json"), status=201)
    cancel = responses.post(f"{GL}/merge_requests/4/cancel_merge_when_pipeline_succeeds", json={}, status=200)
    app = create_app(container=container)

    gitlab_note(app, 4, "/manifest-bot merge", author="mona", note_id=7, repo="acme/deploy")
    drain(container)
    reply = json.loads(responses.calls[-2].request.body)["body"]
    assert reply == (
        "✅ `/manifest-bot merge`: no pipeline for the head yet; I will turn auto-merge on once it exists"
    )
    assert json.loads(responses.calls[-1].request.body) == {"name": "rocket"}
    assert not any(c.request.method == "PUT" for c in responses.calls)  # never merge unvalidated code
    assert container.dispatch.auto_merges.count() == 1  # the leader queues the retry when it is due
    # still no pipeline when the retry runs: it waits again
    assert auto_merge_when_ready("gitlab", "acme/deploy", 4) == {"pr": 4, "waiting": True, "attempt": 1}

    gitlab_note(app, 4, "/manifest-bot cancel merge", author="mona", note_id=8, repo="acme/deploy")
    drain(container)
    assert cancel.call_count == 1
    assert auto_merge_when_ready("gitlab", "acme/deploy", 4) == {"pr": 4, "cancelled": True}
    assert container.dispatch.auto_merges.count() == 0
    assert failed(container) == []

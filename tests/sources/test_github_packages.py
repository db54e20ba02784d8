"""GHCR through GitHub's ``package`` and ``registry_package`` events: the object the event names,
the tag of an ``updated`` version, the registry host of GitHub Enterprise Server."""

from __future__ import annotations

import json
from typing import Any

from bot.core.events import event_to_dict
from bot.sources import github
from tests.sources.test_parse import FIXTURES, gh


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "github" / f"{name}.json").read_text())


def parse(event: str, body: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    result = github.parse(gh(event), json.dumps(body).encode())
    return [event_to_dict(e) for e in result.events], result.ignored_reason


def test_the_object_read_is_the_one_the_event_names() -> None:
    app_body = fixture("registry_package.published")
    hook_body = fixture("package.published.container")
    assert parse("registry_package", app_body)[0][0]["tag"] == "1.4.2"
    assert parse("package", hook_body)[0][0]["tag"] == "2.0.0"
    # a body under the other event's name is not read as this event's package
    assert parse("package", app_body) == ([], "package published without a package object")
    assert parse("registry_package", hook_body) == (
        [],
        "registry_package published without a registry_package object",
    )


def test_an_updated_version_takes_its_tag_from_the_package_url() -> None:
    body = fixture("registry_package.updated")
    version = body["registry_package"]["package_version"]
    version["package_url"] = "ghcr.io/octo-org/octo-repo:1.5.1"
    (event,), _ = parse("registry_package", body)
    assert (event["image"], event["tag"], event["digest"]) == (
        "ghcr.io/octo-org/octo-repo",
        "1.5.1",
        version["version"],
    )


def test_an_updated_version_without_a_tag_is_ignored_as_untagged() -> None:
    body = fixture("registry_package.updated")
    body["registry_package"]["package_version"]["package_url"] = "ghcr.io/octo-org/octo-repo:"
    events, reason = parse("registry_package", body)
    assert events == []
    assert reason == "untagged version of 'octo-repo' (a platform manifest or a push by digest)"


def test_only_published_and_updated_versions_are_read() -> None:
    body = fixture("package.published.container")
    body["action"] = "deleted"
    assert parse("package", body) == ([], "package deleted: only published and updated versions matter")


def test_github_enterprise_server_images_keep_the_host_of_the_package_url() -> None:
    body = fixture("package.published.container")
    body["package"]["package_version"]["package_url"] = "containers.ghe.example.com/octo-org/octo-repo:2.0.0"
    (event,), _ = parse("package", body)
    assert event["image"] == "containers.ghe.example.com/octo-org/octo-repo"

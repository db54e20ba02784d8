"""``pr.limits`` through the running service (issue 25 item 3): signed webhooks through the Flask
app, in-process rq workers, Redis and a local git forge, with the container's clock injected.
Three images, each its own group in one manifest repo, with ``pr.limits: {open: 1, per_hour: 2}``:
a group over the limit waits in line (the group, ``/api/groups``, the page and ``manifest-bot
status`` say which and why), gets its PR when a slot frees, in the order the groups started to
wait, and an hour's openings hold the next one back until the oldest is an hour old."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.core.release_age import shown
from bot.forges.local.git import GitRepo
from tests.integration.test_chatops_e2e import Chat, e2e_settings
from tests.services.chatops_fixture import API, REPO, WEB, ChatWorld, make_world, manifest

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC).timestamp()
DB = "ghcr.io/acme/db"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limited(config: dict[str, Any]) -> None:
    config["defaults"]["pr"] = {"limits": {"open": 1, "per_hour": 2}}
    rules = [r for r in config["rules"] if r["name"] in ("api", "web")]
    rules.append({"name": "db", "image": DB, "targets": [dict(rules[0]["targets"][0])]})
    for rule in rules:  # one group per image in dev: three PRs compete for the repo's slots
        rule["targets"][0]["group"] = rule["name"]
    config["rules"] = rules


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def world(
    tmp_path: Path, make_settings: Callable[..., Any], redis_conn: Any, clock: Clock
) -> Iterator[ChatWorld]:
    for world in make_world(tmp_path, e2e_settings(make_settings), forge_name="github", edit=limited):
        world.container.clock = clock  # before anything of the container is built
        repo = GitRepo(world.root / f"{REPO}.git", ("Seed Person", "seed@example.com"))
        main = repo.require("main")
        with_db = repo.make_commit(main, {"envs/dev/db.yaml": manifest("db", DB, "1.0.0").encode()}, "db\n")
        repo.cas_ref("main", with_db, main)
        yield world


def key(group: str) -> str:
    return f"github:{REPO}:main:{group}"


def pr_of(world: ChatWorld, group: str) -> int:
    (pr,) = [
        p for p in world.forge.list_prs(REPO) if p.state == "open" and p.head_branch.endswith(f"/{group}")
    ]
    return pr.number


def open_groups(world: ChatWorld) -> list[str]:
    return sorted(p.head_branch.rsplit("/", 1)[1] for p in world.forge.list_prs(REPO) if p.state == "open")


def reason(world: ChatWorld, group: str) -> str | None:
    return world.container.reconcile_deps.groups.get(key(group)).limited


def test_groups_over_the_limits_wait_their_turn(world: ChatWorld, clock: Clock) -> None:
    chat = Chat(world)
    chat.push("1.1.0", API)
    assert open_groups(world) == ["api"]

    clock.now += 60
    chat.push("1.1.0", WEB)  # waits first ...
    clock.now += 60
    chat.push("1.1.0", DB)  # ... then db, behind it

    assert open_groups(world) == ["api"]
    web_waits = "waits to open its PR in acme/deploy until one closes (1 open, pr.limits.open 1; 1st in line)"
    assert reason(world, "web") == web_waits
    assert reason(world, "db") == web_waits.replace("1st in line", "2nd in line")
    api = chat.app.test_client().get("/api/groups").get_json()
    assert {g["key"]: g["limited"] for g in api["groups"]}[key("db")].endswith("2nd in line)")
    assert web_waits in chat.app.test_client().get("/").get_data(as_text=True)

    chat.say(pr_of(world, "api"), "/manifest-bot merge")  # a slot frees: web has waited longest
    clock.now += 31
    chat.drain()
    assert open_groups(world) == ["web"] and reason(world, "web") is None

    chat.say(pr_of(world, "web"), "/manifest-bot merge")  # db's turn, but two opened this hour
    clock.now += 31
    chat.drain()
    assert open_groups(world) == []
    until = T0 + 3600  # a slot frees when the hour's oldest opening (api's, at T0) is an hour old
    assert reason(world, "db") == (
        f"waits to open its PR in acme/deploy until {shown(until)} "
        "(2 opened in the last hour, pr.limits.per_hour 2; 1st in line)"
    )

    clock.now = until - 5
    chat.drain()
    assert open_groups(world) == []  # not a second early
    clock.now = until + 1
    chat.drain()
    assert open_groups(world) == ["db"] and reason(world, "db") is None

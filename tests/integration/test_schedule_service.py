"""Maintenance windows through the running service (issue 25 item 1): with
``environments.dev.schedule: {timezone: Europe/Berlin, cron: ["* 9-16 * * 1-5"]}``, a version that
arrives outside the window waits (no PR update; the group, the status API and the page say until
when), a person's ``/manifest-bot rebase`` acts at once, and the leader writes what waited when the
window opens — signed GitHub deliveries through the Flask app, in-process rq workers, Redis and a
local git forge, with the container's clock injected."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_chatops_e2e import ROCKET, Chat, e2e_settings
from tests.services.chatops_fixture import ChatWorld, make_world

#: Monday 7 December 2026, 10:00 in Berlin (09:00 UTC): inside the window
MONDAY_MORNING = datetime(2026, 12, 7, 9, 0, tzinfo=UTC).timestamp()
#: the same day at 18:00 in Berlin: outside; the window opens again Tuesday 09:00 Berlin (08:00 UTC)
MONDAY_EVENING = datetime(2026, 12, 7, 17, 0, tzinfo=UTC).timestamp()
TUESDAY_OPENS = "2026-12-08T08:00:00Z"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def windowed(config: dict[str, Any]) -> None:
    config["environments"]["dev"] = {"schedule": {"timezone": "Europe/Berlin", "cron": ["* 9-16 * * 1-5"]}}


@pytest.fixture
def clock() -> Clock:
    return Clock(MONDAY_MORNING)


@pytest.fixture
def world(
    tmp_path: Path, make_settings: Callable[..., Any], redis_conn: Any, clock: Clock
) -> Iterator[ChatWorld]:
    for world in make_world(tmp_path, e2e_settings(make_settings), forge_name="github", edit=windowed):
        world.container.clock = clock  # before anything of the container is built
        yield world


def test_outside_the_window_versions_wait_and_a_person_still_acts(world: ChatWorld, clock: Clock) -> None:
    chat = Chat(world)
    chat.push("1.1.0")  # inside the window: the PR opens
    pr = world.open_pr("dev")
    assert world.tag_on(pr.head_branch, "dev") == "1.1.0"

    clock.now = MONDAY_EVENING
    chat.push("1.2.0")
    assert world.tag_on(pr.head_branch, "dev") == "1.1.0"  # waits for the window
    group = world.container.reconcile_deps.groups.get(world.group_key("dev"))
    assert group.waits_until == datetime.fromisoformat(TUESDAY_OPENS).timestamp()
    api = chat.app.test_client().get("/api/groups").get_json()
    row = next(g for g in api["groups"] if g["key"] == world.group_key("dev"))
    assert row["waits_until"] == TUESDAY_OPENS
    assert f"waits for the schedule until {TUESDAY_OPENS}" in chat.app.test_client().get("/").get_data(
        as_text=True
    )

    cid = chat.say(pr.number, "/manifest-bot rebase")  # a person: at once, window or not
    assert world.reactions(pr.number, cid)[-1] == ROCKET
    assert world.tag_on(pr.head_branch, "dev") == "1.2.0"
    assert world.container.reconcile_deps.groups.get(world.group_key("dev")).waits_until is None

    chat.push("1.3.0")  # still evening: waits again
    assert world.tag_on(pr.head_branch, "dev") == "1.2.0"
    clock.now = datetime.fromisoformat(TUESDAY_OPENS).timestamp() + 1
    chat.drain()  # the leader takes the group when its window opens
    assert world.tag_on(pr.head_branch, "dev") == "1.3.0"
    assert world.container.reconcile_deps.groups.get(world.group_key("dev")).waits_until is None

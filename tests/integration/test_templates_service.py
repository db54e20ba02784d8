"""``pr.commit_template`` and ``pr.body_template`` through the running service (issue 25 item 7):
two images pushed through the Flask app's generic webhook, in-process rq workers, Redis and a
local git forge; the group's one PR carries a body and a commit message the templates rendered
over both changes, and the bot's own sections (commands, hidden marker) still follow the body."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_chatops_e2e import Chat, e2e_settings
from tests.integration.world import git
from tests.services.chatops_fixture import API, REPO, WEB, ChatWorld, make_world

COMMIT = (
    "deploy({{ env }}): {{ images | map(attribute='short_image') | join(', ') }}\n\n"
    "{% for c in changes %}* {{ c.file }}: {{ c.old }} → {{ c.new }}\n{% endfor %}"
)
BODY = (
    "### {{ count }} updates for {{ env }} in {{ repo }}\n"
    "{% for i in images %}\n- **{{ i.short_image }}** {{ i.old }} → {{ i.new }}{% endfor %}"
)


def templated(config: dict[str, Any]) -> None:
    config["defaults"]["pr"] = {"commit_template": COMMIT, "body_template": BODY}


@pytest.fixture
def world(tmp_path: Path, make_settings: Callable[..., Any], redis_conn: Any) -> Iterator[ChatWorld]:
    yield from make_world(tmp_path, e2e_settings(make_settings), edit=templated)


def test_one_pr_for_two_images_is_worded_by_the_templates(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0", API, run=False)
    chat.push("1.2.0", WEB)

    pr = world.open_pr("dev")
    assert world.tag_on(pr.head_branch, "dev", "api") == "1.1.0"
    assert world.tag_on(pr.head_branch, "dev", "web") == "1.2.0"
    assert pr.body.startswith(
        "### 2 updates for dev in acme/deploy\n\n- **api** 1.0.0 → 1.1.0\n- **web** 1.0.0 → 1.2.0\n"
    )
    assert "<summary>Commands</summary>" in pr.body and "| File | Image |" not in pr.body
    message = git(world.root / f"{REPO}.git", "log", "-1", "--format=%B", pr.head_branch)
    assert message.strip() == (
        "deploy(dev): api, web\n\n* envs/dev/api.yaml: 1.0.0 → 1.1.0\n* envs/dev/web.yaml: 1.0.0 → 1.2.0"
    )

"""A Helm value several images read (one `images.tag` for every service of a chart): a promotion
through the running service (signed comment → Flask → Redis → rq worker → local git forge) names
every image it moves, and the branch it writes moves them all, as the reply says."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.settings import Settings
from tests.forges.local_fixture import human_commit
from tests.integration.test_chatops_e2e import ROCKET, Chat
from tests.integration.test_chatops_truthful import _settings
from tests.services.chatops_fixture import REPO, ChatWorld, make_world

CHART = Path(__file__).resolve().parents[1] / "fixtures" / "helm" / "shared-tag"


def one_tag_for_the_chart(config: dict[str, Any]) -> None:
    """The api image's rules set `images.tag` of the chart's values file of each environment."""
    rules = {r["name"]: r for r in config["rules"]}
    for name in ("api", "api-promoted"):
        for target in rules[name]["targets"]:
            target["files"] = [f"charts/shop/values-{target['environment']}.yaml"]
            target["path"] = "images.tag"
    config["rules"] = [rules["api"], rules["api-promoted"]]


@pytest.fixture
def world(tmp_path: Path, make_settings: Callable[..., Settings], redis_conn: Any) -> Iterator[ChatWorld]:
    settings = _settings(make_settings)
    for made in make_world(tmp_path, settings, forge_name="github", edit=one_tag_for_the_chart):
        files = {str(p.relative_to(CHART)): p.read_text() for p in CHART.rglob("*") if p.is_file()}
        human_commit(made.forge, REPO, "main", files)
        yield made


def test_a_promotion_of_a_shared_value_names_every_image_it_moves(world: ChatWorld) -> None:
    chat = Chat(world)
    chat.push("1.1.0")
    dev = world.open_pr("dev").number
    cid = chat.say(dev, "/manifest-bot promote")
    staging = world.open_pr("staging").number
    assert world.reactions(dev, cid)[-1] == ROCKET
    assert world.replies(dev)[-1] == (
        "✅ `/manifest-bot promote`: promoting `ghcr.io/acme/api` 1.1.0, `ghcr.io/acme/web` 1.1.0 to "
        "`staging`\n"
        f"  - `ghcr.io/acme/api` 1.1.0 → group `staging` in `{REPO}`: #{staging}\n"
        "  - `charts/shop/values-staging.yaml images.tag` is shared: it also moves `ghcr.io/acme/web` "
        "to 1.1.0"
    )
    values = world.forge.read_file(REPO, "charts/shop/values-staging.yaml", world.branch("staging")).decode()
    assert '  tag: "1.1.0"\n' in values  # the one value both images read

"""Chat-ops ``rollback`` and ``promote`` ask the registry as an event's versions are asked (issue
21, item 3), through the running service's parts in one process: signed comment deliveries →
Flask app → Redis → the rq job → a local git forge, against a real Distribution registry. A
rollback to a tag the registry does not have is refused with the reason and writes nothing; one
it has is written with the digest the registry answered where the rule pins digests, and so is
a promotion."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bot.core.ports import Permission
from bot.core.render import short_image
from bot.deps import Container
from bot.forges.local.adapter import LocalGitForge
from bot.jobs import runtime
from bot.settings import Settings
from tests.forges.local_fixture import seed_repo
from tests.integration.chatops_e2e_fixture import SECRET
from tests.integration.test_chatops_e2e import CONFUSED, EYES, ROCKET, Chat
from tests.registry.fixtures import local_registry
from tests.registry.support import LocalRegistry
from tests.services.chatops_fixture import PEOPLE, REPO, ChatWorld, manifest

__all__ = ["local_registry"]
pytestmark = pytest.mark.slow


def routing(root: Path, image: str, dev_policy: dict[str, object]) -> dict[str, object]:
    def target(env: str) -> dict[str, object]:
        return {"forge": "github", "repo": REPO, "environment": env, "files": [f"envs/{env}/*.yaml"]}

    never = {"repo": "acme/releases", "branches": [], "image": image, "tag": "{sha}"}
    return {
        "version": 1,
        "forges": [{"name": "github", "kind": "local", "path": str(root), "webhooks": "github"}],
        "defaults": {"policy": {"ordering": "semver", "pin": "tag+digest"}},  # verify: on (the default)
        "environments": {"dev": {}, "staging": {}},
        "promotion": [{"name": "default", "environments": ["dev", "staging"]}],
        "rules": [
            {"name": "api", "image": image, "targets": [target("dev")], "policy": dev_policy},
            {"name": "api-promoted", "ci": never, "targets": [target("staging")]},
        ],
        "chatops": {"default_permission": "write"},
    }


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    redis_conn: redis.Redis,
    local_registry: LocalRegistry,
) -> Iterator[ChatWorld]:
    """Dev's policy is what the test asks for (``indirect`` parameter; default: the defaults,
    ``tag+digest`` verified); staging pins ``tag+digest``, verified."""
    dev_policy = getattr(request, "param", {})
    image = local_registry.image("acme/api")
    root = tmp_path / "git"
    seed_repo(
        root, REPO, {f"envs/{env}/api.yaml": manifest("api", image, "1.0.0") for env in ("dev", "staging")}
    )
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps(routing(root, image, dev_policy)))
    secrets = {"github": (SECRET,), "generic": (SECRET,)}
    settings = make_settings(
        config_path=config, webhook_secrets=secrets, bot_login="manifest-bot[bot]", lock_timeout_s=30
    )
    container = Container(settings)
    container.__dict__["redis"] = redis_conn
    forge = LocalGitForge(root, name="github", permissions=PEOPLE, default_permission=Permission.READ)
    container.forges["github"] = forge
    runtime.install(container)
    try:
        yield ChatWorld(root, container, forge, "github")
    finally:
        runtime.install(None)


def image_on(world: ChatWorld, ref: str, env: str) -> str:
    text = world.forge.read_file(REPO, f"envs/{env}/api.yaml", ref).decode()
    return text.split("image: ", 1)[1].strip()


def test_rollback_and_promote_write_what_the_registry_has_with_its_digest(
    world: ChatWorld, local_registry: LocalRegistry
) -> None:
    image = local_registry.image("acme/api")
    name = short_image(image)
    digests = {tag: local_registry.push("acme/api", tag) for tag in ("1.1.0", "1.2.0")}  # never 1.0.0
    chat = Chat(world)
    chat.push("1.2.0", image=image)
    dev = world.open_pr("dev").number
    assert image_on(world, world.branch("dev"), "dev") == f"{image}:1.2.0@{digests['1.2.0']}"

    # back to what the base had: 1.0.0, which the registry does not have — refused, nothing written
    cid = chat.say(dev, "/manifest-bot rollback")
    assert world.reactions(dev, cid) == [EYES, CONFUSED]
    assert world.replies(dev)[-1] == (
        f"❌ `/manifest-bot rollback`: nothing rolled back: `{name}` `1.0.0` is not in "
        f"{local_registry.host}: the registry does not have it"
    )
    assert image_on(world, world.branch("dev"), "dev") == f"{image}:1.2.0@{digests['1.2.0']}"

    # a tag it has: written with the digest the registry answered (the rule pins tag+digest)
    cid = chat.say(dev, "/manifest-bot rollback 1.1.0")
    assert world.reactions(dev, cid) == [EYES, ROCKET]
    assert image_on(world, world.branch("dev"), "dev") == f"{image}:1.1.0@{digests['1.1.0']}"
    assert digests["1.1.0"] in world.open_pr("dev").body  # the PR table's Digest column

    # promoted as it runs in dev, with its digest, checked against the registry again
    cid = chat.say(dev, "/manifest-bot promote")
    assert world.reactions(dev, cid) == [EYES, ROCKET]
    assert image_on(world, world.branch("staging"), "staging") == f"{image}:1.1.0@{digests['1.1.0']}"


@pytest.mark.parametrize("world", [{"pin": "tag", "verify": False}], indirect=True)
def test_a_promotion_gets_the_digest_its_target_pins_from_the_registry(
    world: ChatWorld, local_registry: LocalRegistry
) -> None:
    image = local_registry.image("acme/api")
    digest = local_registry.push("acme/api", "1.1.0")
    chat = Chat(world)
    chat.push("1.1.0", image=image)
    dev = world.open_pr("dev").number
    # dev pins the tag and asks no registry: the digest comes from the registry at the promote
    assert image_on(world, world.branch("dev"), "dev") == f"{image}:1.1.0"
    cid = chat.say(dev, "/manifest-bot promote")
    assert world.reactions(dev, cid) == [EYES, ROCKET], world.replies(dev)
    assert image_on(world, world.branch("staging"), "staging") == f"{image}:1.1.0@{digest}"


@pytest.mark.parametrize("world", [{"pin": "tag"}], indirect=True)
def test_with_verify_on_a_rollback_to_a_tag_the_registry_lacks_is_refused(
    world: ChatWorld, local_registry: LocalRegistry
) -> None:
    """The issue's case: the rule pins tags only, ``verify`` is on; the tag before the PR is gone."""
    image = local_registry.image("acme/api")
    local_registry.push("acme/api", "1.1.0")
    chat = Chat(world)
    chat.push("1.1.0", image=image)
    dev = world.open_pr("dev").number
    cid = chat.say(dev, "/manifest-bot rollback")
    assert world.reactions(dev, cid) == [EYES, CONFUSED]
    assert f"`{short_image(image)}` `1.0.0` is not in {local_registry.host}" in world.replies(dev)[-1]
    assert image_on(world, world.branch("dev"), "dev") == f"{image}:1.1.0"

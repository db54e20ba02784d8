"""One bad file blocks only its own targets (issue #12, item 5): a YAML bomb named by one target
fails that target's intent, recorded on the group, while the group's other intents go ahead;
discovery skips it with a recorded reason; a retry does not parse it again until it changes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from bot.core.events import Delivery, ImagePushed
from bot.core.marker import parse_marker
from bot.deps import Container
from bot.forges.local.adapter import LocalGitForge
from bot.jobs import runtime
from bot.services.events import apply_delivery
from bot.services.lifecycle import sync_group
from bot.services.reconcile import reconcile
from bot.settings import Settings
from tests.forges.local_fixture import seed_repo
from tests.integration.world import World, git, image_name, make_world, manifest, tags_at
from tests.services import lifecycle_fixture as lf

DEV = "local:manifests:main:dev"


def bomb(levels: int = 40, salt: str = "") -> str:
    lines = [f"a0: &a0 {{k: v{salt}}}"]
    lines += [f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}]}}" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def test_explicit_bad_file_fails_only_the_intent_naming_it(tmp_path: Path) -> None:
    seed_repo(tmp_path, lf.REPO, {**lf.FILES, "envs/dev/cache.yaml": bomb(salt="explicit")})
    forge = LocalGitForge(tmp_path)
    api = lf.intent(files=("envs/dev/api.yaml",))
    cache = lf.intent(image="ghcr.io/acme/cache", tag="2.0.0", files=("envs/dev/cache.yaml",))
    result = sync_group(forge, [api, cache])
    assert result.action == "opened"
    marker = parse_marker(result.pr.body if result.pr else "")
    assert marker is not None and marker.files == ("envs/dev/api.yaml",)
    (problem,) = result.problems or ()
    assert problem.startswith("ghcr.io/acme/cache not updated: envs/dev/cache.yaml:1: aliases and merge keys")
    assert "(possible alias bomb)" in problem
    again = sync_group(forge, [api, lf.intent(image="ghcr.io/acme/cache", tag="2.0.1", files=cache.files)])
    assert again.problems is not None and "unchanged since it was refused" in again.problems[0]


def test_discovery_skips_a_bad_file_with_its_reason(tmp_path: Path) -> None:
    seed_repo(tmp_path, lf.REPO, {**lf.FILES, "envs/dev/zz-bomb.yaml": bomb(salt="discovery")})
    forge = LocalGitForge(tmp_path)
    result = sync_group(forge, [lf.intent(image="ghcr.io/acme/web", tag="2.1.0", files=())])
    assert result.action == "opened"
    assert (
        'tag: "2.1.0"' in forge.read_file(lf.REPO, "envs/dev/web-values.yaml", result.commit or "").decode()
    )
    (problem,) = result.problems or ()
    assert problem.startswith("ghcr.io/acme/web: skipped envs/dev/zz-bomb.yaml: aliases and merge keys")


def test_an_intent_whose_only_file_is_bad_still_fails_the_sync(tmp_path: Path) -> None:
    seed_repo(tmp_path, lf.REPO, {**lf.FILES, "envs/dev/cache.yaml": bomb(salt="alone")})
    forge = LocalGitForge(tmp_path)
    with pytest.raises(Exception, match="possible alias bomb"):
        sync_group(forge, [lf.intent(image="ghcr.io/acme/cache", files=("envs/dev/cache.yaml",))])


# --- through the reconcile service: the error is recorded on the group ----------------------------
@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path, images=2, envs=("dev",))


@pytest.fixture
def container(
    world: World, make_settings: Callable[..., Settings], redis_conn: redis.Redis
) -> Iterator[Container]:
    settings = make_settings(config_path=world.config_path, lock_timeout_s=5)
    c = Container(settings, forges={"local": LocalGitForge(world.root, bot_login=settings.bot_login)})
    runtime.install(c)
    yield c
    runtime.install(None)


def push(c: Container, i: int, tag: str, delivery: str) -> None:
    event = ImagePushed(image_name(i), tag, None, "generic")
    apply_delivery(
        c.intents,
        c.config,
        Delivery(delivery, "generic", "2024-01-01T00:00:00Z", (event,)),
        bot_login=c.settings.bot_login,
    )


def commit(world: World, path: str, text: str) -> None:
    (world.repo_dir / path).write_text(text)
    git(world.repo_dir, "commit", "-q", "-am", f"edit {path}")


def test_the_group_records_the_bad_file_and_recovers_when_it_changes(
    container: Container, world: World
) -> None:
    commit(world, world.path("dev", 1), bomb(salt="reconcile"))
    push(container, 0, "1.2.0", "a")
    push(container, 1, "1.2.0", "b")
    report = reconcile(container.reconcile_deps, DEV)  # does not raise: app00 goes ahead
    assert report.pr_number == 1
    assert tags_at(world, world.branch("dev"), "dev")[0] == "1.2.0"
    error = container.intents.groups.get(DEV).state.last_error or ""
    assert error.startswith(f"{image_name(1)} not updated: envs/dev/app01.yaml:1: aliases and merge keys")

    commit(world, world.path("dev", 1), manifest(1, "1.0.0"))  # fixed on the base
    push(container, 0, "1.3.0", "c")
    reconcile(container.reconcile_deps, DEV)
    assert tags_at(world, world.branch("dev"), "dev") == {0: "1.3.0", 1: "1.2.0"}
    assert container.intents.groups.get(DEV).state.last_error is None

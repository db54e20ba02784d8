"""pr.separate_major (issue 25 item 4): a major bump goes to its own group ``<group>-major``."""

from __future__ import annotations

import pytest

from bot.core.config import Config, load_config
from bot.core.events import ImagePushed
from bot.core.intents import Origin, UpdateIntent
from bot.core.keys import GroupKey, TargetKey
from bot.core.majors import fits
from bot.core.planning import plan, plan_for_environment

CONFIG = """
version: 1
forges: [{name: local, kind: local, path: /tmp/x}]
environments:
  dev: {pr: {separate_major: true}}
  staging: {pr: {separate_major: true}}
  prod: {}
rules:
  - name: api
    image: ghcr.io/acme/api
    targets:
      - {forge: local, repo: deploy, environment: dev, files: [dev/api.yaml]}
      - {forge: local, repo: deploy, environment: staging, files: [staging/api.yaml]}
      - {forge: local, repo: deploy, environment: prod, files: [prod/api.yaml]}
"""


@pytest.fixture
def config() -> Config:
    return load_config(CONFIG, "bot.yaml")


def groups(intents: tuple[UpdateIntent, ...]) -> list[tuple[str, str | None]]:
    return sorted((i.group, i.lane) for i in intents)


def test_a_version_goes_to_its_group_and_to_the_major_group_where_majors_go_apart(config: Config) -> None:
    result = plan(ImagePushed(source="generic", image="ghcr.io/acme/api", tag="2.0.0", digest=None), config)
    assert groups(result.intents) == [
        ("dev", "minor"),
        ("dev-major", "major"),
        ("prod", None),
        ("staging", "minor"),
        ("staging-major", "major"),
    ]
    minor = next(i for i in result.intents if i.lane == "minor")
    assert TargetKey.parse(minor.target_key).major == 2  # each major its own target in "dev"


def test_a_tag_that_is_no_version_is_not_split(config: Config) -> None:
    push = ImagePushed(
        source="generic",
        image="ghcr.io/acme/api",
        tag="latest",
        digest=None,
        pushed_at="2026-12-07T10:00:00Z",
    )
    assert groups(plan(push, config).intents) == [("dev", None), ("prod", None), ("staging", None)]


def test_lanes_write_only_over_their_majors() -> None:
    base = UpdateIntent("local", "deploy", "main", "dev", "dev", (), "api", "2.0.0", None, "semver", (2,))
    minor = UpdateIntent(**{**base.to_dict(), "major": 2, "lane": "minor", "ordering_key": (2,)})
    major = UpdateIntent(**{**base.to_dict(), "major": 2, "lane": "major", "ordering_key": (2,)})
    assert fits(minor, "2.1.0") and not fits(minor, "1.9.0") and fits(minor, None)
    assert fits(major, "1.9.0") and fits(major, "1.9.0-alpine") and not fits(major, "2.1.0")
    assert not fits(major, None)


def test_the_major_group_is_a_group_of_the_config(config: Config) -> None:
    dev_major = GroupKey("local", "deploy", "main", "dev-major")
    assert [t.environment for _, t in config.group_targets(dev_major)] == ["dev"]
    assert config.branches_of(dev_major) == ("manifest-bot/dev/dev-major",)
    assert config.environment_of(dev_major) == "dev"
    assert dev_major in config.group_keys() and dev_major in config.environment_groups("dev")
    assert GroupKey("local", "deploy", "main", "prod-major") not in config.group_keys()


def test_a_promotion_of_a_major_reaches_the_next_stages_major_group(config: Config) -> None:
    result = plan_for_environment(config, "ghcr.io/acme/api", "2.0.0", None, "staging", origin=Origin())
    assert groups(result.intents) == [("staging", "minor"), ("staging-major", "major")]


def test_target_keys_round_trip_with_a_major() -> None:
    key = TargetKey("ghcr.io/acme/api", "", ("a.yaml",), "alpine", 3)
    assert str(key).endswith("|~alpine|^3") and TargetKey.parse(str(key)) == key
    assert TargetKey.parse(str(TargetKey("x", "", (), "", None))).major is None

"""``policy.platforms`` (issue 25 item 6): what a platform string is, which listed platforms meet
a required one, and what check-config refuses on its line."""

from __future__ import annotations

import pytest

from bot.core.config import load_config
from bot.core.events import ImagePushed
from bot.core.planning import plan
from bot.core.platforms import missing, platform_of
from bot.errors import ConfigError


def test_a_required_os_arch_is_met_by_any_variant_and_a_variant_only_by_itself() -> None:
    listed = ["linux/amd64", "linux/arm64", "linux/arm/v6"]
    assert missing(["linux/amd64", "linux/arm64"], listed) == []
    assert missing(["linux/arm64/v8"], listed) == []  # arm64 without a variant is v8
    assert missing(["linux/arm/v7", "linux/arm", "windows/amd64"], listed) == [
        "linux/arm/v7",
        "windows/amd64",
    ]
    assert missing(["linux/amd64"], []) == ["linux/amd64"]


def test_an_entrys_platform_is_read_and_attestations_are_none() -> None:
    assert platform_of({"os": "linux", "architecture": "arm", "variant": "v7"}) == "linux/arm/v7"
    assert platform_of({"os": "unknown", "architecture": "unknown"}) is None
    assert platform_of({"architecture": "amd64"}) is None


CONFIG = """\
forges: [{{name: local, kind: local, path: /tmp/x}}]
rules:
  - name: api
    image: ghcr.io/acme/api
    policy:
      platforms: {platforms}
    targets: [{{forge: local, repo: deploy, files: [a.yaml]}}]
"""


def test_the_planner_carries_the_platforms_to_the_registry_gate() -> None:
    config = load_config(CONFIG.format(platforms="[linux/amd64, linux/arm64]"), "bot.yaml")
    (intent,) = plan(ImagePushed("ghcr.io/acme/api", "1.2.0", None, "generic"), config).intents
    assert intent.platforms == ("linux/amd64", "linux/arm64")


@pytest.mark.parametrize(
    ("platforms", "expected"),
    [
        ("[amd64]", "'amd64' is not a platform: write it as os/architecture[/variant], e.g. 'linux/amd64'"),
        ("[linux/AMD64]", "'linux/AMD64' is not a platform"),
        ("[linux/arm/v7/x]", "is not a platform"),
        ("linux/amd64", "valid tuple"),
    ],
)
def test_check_config_refuses_a_bad_platform_on_its_line(platforms: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(CONFIG.format(platforms=platforms), "bot.yaml")
    assert any(
        p.startswith("bot.yaml:6: rules[0].policy.platforms") and expected in p for p in exc.value.problems
    ), exc.value.problems

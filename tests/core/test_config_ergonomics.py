"""Config ergonomics (#17): promote-only environments, CI rules that build several images, and
Docker variant tags compared as Renovate's docker versioning does."""

from __future__ import annotations

import textwrap
from typing import Any

import pytest

from bot.core.config import Config, load_config
from bot.core.events import CiFinished, ImagePushed
from bot.core.intents import Origin
from bot.core.keys import TargetKey
from bot.core.planning import plan, plan_for_environment
from bot.core.versions import rejection, split_variant, version_variant
from bot.errors import ConfigError

SHA = "0123456789abcdef0123456789abcdef01234567"
HEAD = "forges:\n  - {name: gh, kind: github}\n"


def config(body: str) -> Config:
    return load_config(HEAD + textwrap.dedent(body), "bot.yaml")


def pipeline(**kw: Any) -> CiFinished:
    base: dict[str, Any] = {
        "forge": "gitlab",
        "repo": "acme/shop",
        "sha": SHA,
        "branch": "main",
        "status": "success",
        "run_id": 77,
        "run_number": 12,
        "workflow": "Build shop",
    }
    return CiFinished(**(base | kw))


# --- promote-only environments ---------------------------------------------------------------------
PROMOTE_ONLY = """\
environments: {dev: {}, prod: {promote_only: true}}
promotion: [{name: main, environments: [dev, prod]}]
rules:
  - name: api
    image: ghcr.io/acme/api
    targets:
      - {forge: gh, repo: acme/deploy, environment: dev, files: [dev/api.yaml]}
      - {forge: gh, repo: acme/deploy, environment: prod, files: [prod/api.yaml]}
"""


def test_a_promote_only_environment_takes_no_push_but_takes_promotion_and_rollback() -> None:
    cfg = config(PROMOTE_ONLY)
    result = plan(ImagePushed("ghcr.io/acme/api", "1.2.0", None, "ghcr"), cfg)
    assert [i.environment for i in result.intents] == ["dev"]
    assert [s.reason for s in result.skips] == [
        "environment 'prod' is promote-only: only promote and rollback change it"
    ]
    origin = Origin(source="chatops", actor="alice")
    promoted = plan_for_environment(cfg, "ghcr.io/acme/api", "1.2.0", None, "prod", origin=origin)
    assert [i.environment for i in promoted.intents] == ["prod"]
    back = plan_for_environment(cfg, "ghcr.io/acme/api", "1.1.0", None, "prod", origin=origin, rollback=True)
    assert [(i.environment, i.rollback) for i in back.intents] == [("prod", True)]


# --- CI rules building several images ------------------------------------------------------------
def ci_config(ci: str) -> Config:
    return config(
        f"""\
        rules:
          - name: shop
            ci: {ci}
            targets: [{{forge: gh, repo: acme/deploy, environment: dev}}]
        """
    )


def test_one_ci_run_updates_every_image_it_lists() -> None:
    cfg = ci_config(
        "{repo: acme/shop, images: [reg.example.com/shop/api, reg.example.com/shop/web], tag: '{short_sha}'}"
    )
    result = plan(pipeline(), cfg)
    assert [(i.image, i.tag) for i in result.intents] == [
        ("reg.example.com/shop/api", "0123456"),
        ("reg.example.com/shop/web", "0123456"),
    ]
    assert cfg.rules[0].matches_image("reg.example.com/shop/web")


def test_an_image_pattern_takes_the_workflow_name_the_glob_matched() -> None:
    cfg = ci_config(
        "{repo: acme/shop, workflows: ['Build *'], image: 'reg.example.com/shop/{workflow}', tag: '{sha}'}"
    )
    result = plan(pipeline(workflow="Build Cart_Service"), cfg)
    assert [i.image for i in result.intents] == ["reg.example.com/shop/cart_service"]
    assert cfg.rules[0].matches_image("reg.example.com/shop/anything")
    assert not cfg.rules[0].matches_image("reg.example.com/other/cart")


def test_an_image_pattern_with_jobs_gives_one_image_per_successful_build_job() -> None:
    cfg = ci_config(
        "{repo: acme/shop, jobs: ['build-*'], image: 'reg.example.com/shop/{job}', tag: '{short_sha}'}"
    )
    run = pipeline(jobs=("build-api", "build-web", "lint", "test-api"))
    assert sorted(i.image for i in plan(run, cfg).intents) == [
        "reg.example.com/shop/api",
        "reg.example.com/shop/web",
    ]
    no_build = plan(pipeline(jobs=("lint",)), cfg)  # no build job succeeded: the run does not count
    assert no_build.intents == () and no_build.skips[0].reason.startswith("no rule matches CI run")


@pytest.mark.parametrize(
    ("ci", "message"),
    [
        ("{repo: a/b, tag: x}", "give image or images (not both)"),
        ("{repo: a/b, image: r.io/a, images: [r.io/b], tag: x}", "give image or images (not both)"),
        ("{repo: a/b, image: 'r.io/{job}', tag: x}", "{job} needs jobs"),
        ("{repo: a/b, image: 'r.io/{branch}', tag: x}", "unknown placeholder {branch}"),
        ("{repo: a/b, image: 'r.io/A_{workflow}', tag: x}", "invalid"),
    ],
)
def test_ci_image_mistakes_are_config_errors(ci: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        ci_config(ci)
    assert message.lower() in " ".join(info.value.problems).lower()


# --- Docker variants --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tag", "split"),
    [
        ("7.4.2-alpine", ("7.4.2", "alpine")),
        ("3.12.1-slim-bookworm", ("3.12.1", "slim-bookworm")),
        ("1.25.3-alpine3.19", ("1.25.3", "alpine3.19")),
        ("v2.1-windowsservercore-ltsc2022", ("v2.1", "windowsservercore-ltsc2022")),
        ("1.3.0-rc.1", None),  # prereleases stay prereleases
        ("2.0.0-beta2", None),
        ("1.2.3-SNAPSHOT", None),
        ("1.0.0-abc1234", None),  # a commit id
        ("1.0.0-1", None),
        ("7.4.2", None),
        ("latest", None),
    ],
)
def test_which_suffixes_name_a_variant(tag: str, split: tuple[str, str] | None) -> None:
    assert split_variant(tag) == split


def test_a_variant_tag_is_no_prerelease_and_its_version_meets_the_range() -> None:
    assert rejection("7.4.2-alpine", variants=True) is None
    assert rejection("7.4.2-alpine", semver="^7.4", variants=True) is None
    assert rejection("8.0.0-alpine", semver="^7.4", variants=True) == (
        "tag '8.0.0-alpine' is outside the semver range '^7.4'"
    )
    assert (
        rejection("7.4.2-alpine", variants=False)
        == "tag '7.4.2-alpine' is a prerelease and prereleases are off"
    )
    assert (
        rejection("1.3.0-rc.1", variants=True) == "tag '1.3.0-rc.1' is a prerelease and prereleases are off"
    )
    assert (version_variant("7.4.2", variants=True), version_variant("latest", variants=True)) == ("", None)


VARIANTS = """\
rules:
  - name: redis
    image: redis
    targets: [{forge: gh, repo: acme/deploy, environment: dev}]
"""


def test_variant_tags_are_their_own_targets_ordered_by_their_version() -> None:
    cfg = config(VARIANTS)

    def planned(tag: str) -> tuple[str, str | None, tuple[int | str, ...]]:
        [intent] = plan(ImagePushed("redis", tag, None, "hub"), cfg).intents
        return TargetKey.parse(intent.target_key).variant, intent.variant, intent.ordering_key

    plain, alpine, slim = planned("7.4.2"), planned("7.4.2-alpine"), planned("7.4.3-slim")
    assert (plain[0], plain[1]) == ("", "")
    assert (alpine[0], alpine[1]) == ("alpine", "alpine")
    assert alpine[2] == plain[2]  # 7.4.2-alpine orders as 7.4.2
    assert slim[0] == "slim" and slim[2] > alpine[2]
    off = config(
        VARIANTS.replace("image: redis", "image: redis\n    policy: {variants: false, prereleases: true}")
    )
    [intent] = plan(ImagePushed("redis", "7.4.2-alpine", None, "hub"), off).intents
    assert intent.variant is None and TargetKey.parse(intent.target_key).variant == ""

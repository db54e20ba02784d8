"""What the planner tells the registry gate (verify, digests a pin needs, followed digests) and what a
registry poll plans (``poll_tags``): pure, on the same policy checks as an event."""

from __future__ import annotations

import pytest

from bot.core.events import ImagePushed
from bot.core.intents import Origin
from bot.core.merge import merge
from bot.core.planning import DIGEST_SCHEME, needs_tag_list, plan, plan_for_environment, poll_tags
from tests.core.test_planning import TARGET, ci, config, push

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64


def test_event_intents_ask_the_registry_unless_the_policy_says_not_to() -> None:
    on = config(f"- name: api\n  image: ghcr.io/acme/api\n  {TARGET}\n")
    off = config(f"- name: api\n  image: ghcr.io/acme/api\n  policy: {{verify: false}}\n  {TARGET}\n")
    defaults_off = config(
        f"- name: api\n  image: ghcr.io/acme/api\n  {TARGET}\n", "defaults: {policy: {verify: false}}\n"
    )
    assert [i.verify for i in plan(push(), on).intents] == [True]
    assert [i.verify for i in plan(push(), off).intents] == [False]
    assert [i.verify for i in plan(push(), defaults_off).intents] == [False]


def test_a_ci_event_with_a_digest_pin_is_planned_for_the_registry_to_fill() -> None:
    rule = """\
    - name: web
      ci: {repo: acme/web, image: ghcr.io/acme/web, tag: "{short_sha}"}
      policy: {pin: tag+digest}
      targets: [{forge: github, repo: acme/deploy, environment: dev}]
    """
    (intent,) = plan(ci(), config(rule)).intents
    assert (intent.tag, intent.digest, intent.pin, intent.verify) == ("0123456", None, "tag+digest", True)


def test_promote_and_rollback_intents_carry_what_the_registry_must_confirm() -> None:
    """As an event's: ``verify``, and a digest pin without a digest is planned for the registry
    to fill (``RegistryGate.confirm`` for chat-ops, the event path's gate for auto promotion)."""
    rule = "- name: web\n  image: ghcr.io/acme/web\n  policy: {pin: digest}\n  " + TARGET + "\n"
    result = plan_for_environment(config(rule), "ghcr.io/acme/web", "1.2.3", None, "dev", origin=Origin())
    assert [(i.tag, i.digest, i.pin, i.verify) for i in result.intents] == [("1.2.3", None, "digest", True)]
    given = plan_for_environment(config(rule), "ghcr.io/acme/web", "1.2.3", DIGEST_A, "dev", origin=Origin())
    assert [(i.digest, i.verify) for i in given.intents] == [(DIGEST_A, True)]
    off = rule.replace("{pin: digest}", "{pin: digest, verify: false}")
    unverified = plan_for_environment(
        config(off), "ghcr.io/acme/web", "1.2.3", DIGEST_A, "dev", origin=Origin()
    )
    assert [i.verify for i in unverified.intents] == [False]


FOLLOW = f"- name: web\n  image: ghcr.io/acme/web\n  policy: {{digest: latest}}\n  {TARGET}\n"


def test_following_a_tag_plans_only_that_tag_with_one_constant_key() -> None:
    cfg = config(FOLLOW)
    (intent,) = plan(push("ghcr.io/acme/web", "latest", digest=DIGEST_A), cfg).intents
    assert (intent.tag, intent.ordering_scheme, intent.ordering_key) == ("latest", DIGEST_SCHEME, ("latest",))
    assert intent.pin == "tag+digest"  # a 'tag' pin would never change the file
    assert intent.allow_scheme_change  # turning it on replaces the target's earlier scheme
    other = plan(push("ghcr.io/acme/web", "1.2.3"), cfg)
    assert not other.intents
    assert other.skips[0].reason == "tag '1.2.3' is not 'latest', the tag whose digest this target follows"


def test_a_push_by_digest_alone_asks_where_the_followed_tag_points_now() -> None:
    (intent,) = plan(push("ghcr.io/acme/web", None, digest=DIGEST_A), config(FOLLOW)).intents
    assert (intent.tag, intent.digest) == ("latest", None)  # the event's digest may be another tag's


def test_a_new_digest_of_the_followed_tag_is_news_and_the_same_one_is_a_duplicate() -> None:
    cfg = config(FOLLOW)
    (first,) = plan(push("ghcr.io/acme/web", "latest", digest=DIGEST_A), cfg).intents
    (again,) = plan(push("ghcr.io/acme/web", "latest", digest=DIGEST_A), cfg).intents
    (moved,) = plan(push("ghcr.io/acme/web", "latest", digest=DIGEST_B), cfg).intents
    start = merge({}, {}, [first])
    active = start.active
    assert [s.reason for s in merge(active, start.marks, [again]).superseded] == ["duplicate"]
    assert merge(active, start.marks, [moved]).active[moved.target_key].digest == DIGEST_B


def test_an_explicit_digest_pin_is_kept_when_following() -> None:
    rule = f"- name: web\n  image: ghcr.io/acme/web\n  policy: {{digest: stable, pin: digest}}\n  {TARGET}\n"
    (intent,) = plan(push("ghcr.io/acme/web", "stable"), config(rule)).intents
    assert intent.pin == "digest"


# --- polling --------------------------------------------------------------------------------------
TAGS = ["1.0.0", "1.2.0", "1.10.1", "2.0.0", "2.1.0-rc.1", "latest", "sha-0123456", "1.11.0-debug", "v1.9.0"]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        # variants off: a suffix is a prerelease (the per-variant choice has its own test below)
        ("{variants: false}", "2.0.0"),  # auto: only version tags order by the tag alone; 1.10.1 < 2.0.0
        ("{variants: false, semver: '^1'}", "1.10.1"),
        ("{variants: false, semver: '^1', deny: '-debug$'}", "1.10.1"),
        ("{variants: false, prereleases: true}", "2.1.0-rc.1"),
        ("{variants: false, semver: '^1', prereleases: true}", "1.11.0-debug"),
        ("{variants: false, semver: '^1', prereleases: true, ignore: ['1.11.*']}", "1.10.1"),
        ("{variants: false, allow: '^v'}", "v1.9.0"),
        ("{variants: false, ordering: lexical}", "v1.9.0"),
        ("{variants: false, ordering: numeric, allow: '^1[.]'}", "1.10.1"),  # -debug: a prerelease
        ("{variants: false, ordering: numeric}", "sha-0123456"),  # numeric means numbers, whatever
        ("{variants: false, semver: '^3'}", None),
    ],
)
def test_poll_chooses_the_highest_tag_the_policy_allows(policy: str, expected: str | None) -> None:
    cfg = config(f"- name: api\n  image: ghcr.io/acme/api\n  policy: {policy}\n  {TARGET}\n")
    assert poll_tags(cfg, "ghcr.io/acme/api", TAGS) == ((expected,) if expected else ())


def test_poll_chooses_the_highest_of_each_docker_variant() -> None:
    cfg = config(f"- name: redis\n  image: docker.io/library/redis\n  {TARGET}\n")
    tags = ["7.2.5", "7.4.1", "7.4.2-alpine", "7.2.9-alpine", "7.4.0-slim", "7.4.1-rc1", "latest"]
    assert poll_tags(cfg, "docker.io/library/redis", tags) == ("7.4.1", "7.4.2-alpine", "7.4.0-slim")


def test_poll_chooses_per_target_and_plans_each_tag_once() -> None:
    rules = """\
    - name: api
      image: ghcr.io/acme/api
      targets:
        - {forge: github, repo: acme/deploy, environment: dev, policy: {prereleases: true}}
        - {forge: github, repo: acme/deploy, environment: staging, policy: {semver: '^1'}}
        - {forge: github, repo: acme/deploy, environment: prod, policy: {semver: '^1'}}
        - {forge: github, repo: acme/deploy, environment: live, policy: {digest: latest}}
    - name: others
      image_glob: "quay.io/*"
      targets: [{forge: github, repo: acme/deploy, environment: dev}]
    - name: api-ci
      ci: {repo: acme/api, image: ghcr.io/acme/api, tag: "sha-{short_sha}"}
      targets: [{forge: github, repo: acme/deploy, environment: qa}]
    """
    cfg = config(rules)
    # each Docker variant competes with its own kind: 1.11.0-debug is the highest "-debug" build
    assert poll_tags(cfg, "ghcr.io/acme/api", TAGS) == ("2.1.0-rc.1", "1.11.0-debug", "1.10.1", "latest")
    assert poll_tags(cfg, "quay.io/acme/other", TAGS) == ("2.0.0", "1.11.0-debug")
    assert needs_tag_list(cfg, "ghcr.io/acme/api")


def test_a_poll_of_an_image_whose_targets_all_follow_a_digest_lists_no_tags() -> None:
    cfg = config(FOLLOW)
    assert not needs_tag_list(cfg, "ghcr.io/acme/web")
    assert poll_tags(cfg, "ghcr.io/acme/web", None) == ("latest",)


def test_polled_tags_plan_exactly_as_a_push_would() -> None:
    cfg = config(f"- name: api\n  image: ghcr.io/acme/api\n  policy: {{semver: '^1'}}\n  {TARGET}\n")
    tags = poll_tags(cfg, "ghcr.io/acme/api", TAGS)
    assert tags == ("1.10.1", "1.11.0-debug")  # the plain versions' highest, and the -debug variant's
    for tag in tags:
        polled_event = ImagePushed(image="ghcr.io/acme/api", tag=tag, digest=None, source="poll")
        polled = plan(polled_event, cfg, received_at="2024-05-01T10:00:00Z").intents
        pushed = plan(push(tag=tag), cfg, received_at="2024-05-01T10:00:00Z").intents
        assert [(i.group_key, i.target_key, i.tag, i.ordering_key) for i in polled] == [
            (i.group_key, i.target_key, i.tag, i.ordering_key) for i in pushed
        ]

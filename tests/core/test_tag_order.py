"""policy.extract + policy.order (issue 25 item 5): which tags are eligible, how they order, and
what check-config says about bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.config import Config, load_config
from bot.core.events import ImagePushed
from bot.core.intents import PlanResult
from bot.core.merge import comparable, merge
from bot.core.planning import plan, poll_tags
from bot.errors import ConfigError

RULE = """
version: 1
forges: [{{name: local, kind: local, path: /tmp/x}}]
rules:
  - name: api
    image: ghcr.io/acme/api
    poll: 5m
    policy: {{{policy}}}
    targets: [{{forge: local, repo: deploy, environment: dev, files: [api.yaml]}}]
"""
TS = r"extract: '^main-(?P<ts>[0-9]+)-[0-9a-f]+$'"


def config(policy: str) -> Config:
    return load_config(RULE.format(policy=policy), "bot.yaml")


def push(cfg: Config, tag: str) -> PlanResult:
    return plan(
        ImagePushed(source="generic", image="ghcr.io/acme/api", tag=tag, digest=None), cfg, delivery_id=tag
    )


def test_the_named_group_orders_and_a_late_older_timestamp_is_superseded() -> None:
    cfg = config(f"{TS}, order: numerical")
    newer = push(cfg, "main-1712345999-0c1d2e3").intents[0]
    older = push(cfg, "main-1712345678-ff00000").intents[0]
    assert (newer.ordering_scheme, newer.ordering_key) == ("numerical", (1712345999,))
    first = merge({}, {}, [newer])
    late = merge(first.active, first.marks, [older])
    assert not late.changed and late.superseded[0].reason == "older"


def test_tags_the_pattern_does_not_match_are_not_eligible() -> None:
    cfg = config(f"{TS}, order: numerical")
    result = push(cfg, "feature-1712345999-0c1d2e3")
    assert not result.intents
    assert "does not match the extract pattern" in result.skips[0].reason


def test_numerical_orders_by_value_not_by_text() -> None:
    cfg = config(r"extract: '^build-(?P<n>[0-9.]+)$', order: numerical")
    keys = {
        t: comparable(push(cfg, t).intents[0].ordering_key)
        for t in ("build-9", "build-10", "build-1.5", "build-1.25")
    }
    assert sorted(keys, key=keys.__getitem__) == ["build-1.25", "build-1.5", "build-9", "build-10"]


def test_descending_makes_the_lowest_key_the_newest() -> None:
    cfg = config(r"extract: '^(?P<n>[0-9]+)$', order: {by: numerical, direction: descending}")
    low, high = (push(cfg, t).intents[0] for t in ("3", "12"))
    assert comparable(low.ordering_key) > comparable(high.ordering_key)
    alpha = config(r"order: {by: alphabetical, direction: descending}")
    keys = {t: comparable(push(alpha, t).intents[0].ordering_key) for t in ("b", "a", "ab")}
    assert max(keys, key=keys.__getitem__) == "a"
    assert sorted(keys, key=keys.__getitem__) == ["b", "ab", "a"]


def test_semver_of_the_extracted_part_compares_with_whole_tag_semver() -> None:
    cfg = config(r"extract: '^release-(?P<v>.+)$', order: semver")
    intent = push(cfg, "release-1.4.2").intents[0]
    assert (intent.ordering_scheme, intent.ordering_key[:3]) == ("semver", (1, 4, 2))
    assert "is not a version" in push(cfg, "release-next").skips[0].reason


def test_a_poll_chooses_the_highest_extracted_key() -> None:
    cfg = config(f"{TS}, order: numerical")
    tags = ["main-1712345999-0c1d2e3", "main-1712345678-ffffff0", "latest", "main-99-aaaaaaa"]
    assert poll_tags(cfg, "ghcr.io/acme/api", tags) == ("main-1712345999-0c1d2e3",)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            r"extract: '^main-(?P<ts>\d+)-(?P<sha>[0-9a-f]+)$', order: numerical",
            "exactly one named group, it has 2",
        ),
        (r"extract: '^main-(\d+)$', order: numerical", "exactly one named group, it has none"),
        (r"extract: '(?<=main-)(?P<ts>\d+)', order: numerical", "no look-around"),
        ("order: numerically", "'numerically' is not one of"),
        ("order: {by: semver, direction: descending}", "semver orders ascending only"),
        ("order: {by: numerical, direction: down}", "'down' is not one of"),
        (TS, "policy.extract needs policy.order"),
    ],
)
def test_check_config_refuses_bad_input_with_its_line(policy: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        config(policy)
    text = "\n".join(exc.value.problems)
    assert expected in text and "bot.yaml:" in text, text


def test_check_config_cli_names_file_and_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bot.cli import main

    path = tmp_path / "bot.yaml"
    path.write_text(RULE.format(policy="order: numerically"))
    result = CliRunner().invoke(main, ["check-config", str(path)])
    assert result.exit_code == 2
    assert f"{path}:8: rules[0].policy.order: 'numerically' is not one of" in result.output


def test_an_extracted_prerelease_needs_prereleases_on() -> None:
    off = config(r"extract: '^release-(?P<v>.+)$', order: semver")
    assert "is a prerelease and prereleases are off" in push(off, "release-2.0.0-rc.1").skips[0].reason
    on = config(r"extract: '^release-(?P<v>.+)$', order: semver, prereleases: true")
    assert push(on, "release-2.0.0-rc.1").intents[0].tag == "release-2.0.0-rc.1"

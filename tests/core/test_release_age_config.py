"""``policy.min_release_age`` (issue 25 item 2): the durations it takes, where it applies (a rule,
an environment's policy), and what check-config refuses on its line with a hint."""

from __future__ import annotations

import pytest

from bot.core.config import load_config
from bot.core.events import ImagePushed
from bot.core.planning import plan
from bot.errors import ConfigError

CONFIG = """
forges: [{{name: local, kind: local, path: /tmp/x}}]
environments:
  dev: {{}}
  prod:
    policy: {{min_release_age: 2d}}
rules:
  - name: api
    image: ghcr.io/acme/api
    policy:
      min_release_age: {age}
    targets:
      - {{forge: local, repo: deploy, environment: dev, files: [dev.yaml]}}
      - {{forge: local, repo: deploy, environment: prod, files: [prod.yaml]}}
"""


def ages(age: str) -> dict[str, float]:
    config = load_config(CONFIG.format(age=age), "bot.yaml")
    event = ImagePushed(image="ghcr.io/acme/api", tag="1.2.0", digest=None, source="generic")
    return {i.environment or "": i.min_age_s for i in plan(event, config).intents}


@pytest.mark.parametrize(
    ("age", "seconds"),
    [
        ("3d", 259_200.0),
        ("12h", 43_200.0),
        ("1d12h", 129_600.0),
        ("90m", 5_400.0),
        ("30s", 30.0),
        ("0s", 0.0),
    ],
)
def test_a_rule_waits_as_long_as_it_says(age: str, seconds: float) -> None:
    assert ages(age)["dev"] == seconds


def test_an_environments_policy_sets_it_for_its_targets() -> None:
    config = load_config(
        CONFIG.format(age="1h").replace("      min_release_age: 1h\n", "      {}\n"), "bot.yaml"
    )
    event = ImagePushed(image="ghcr.io/acme/api", tag="1.2.0", digest=None, source="generic")
    assert {i.environment: i.min_age_s for i in plan(event, config).intents} == {
        "dev": 0.0,
        "prod": 172_800.0,
    }


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        ("3 days", "is not a duration: write it as a number with s, m, h or d: '3d'"),
        ("3w", "is not a duration"),
        ("1h3d", "is not a duration"),  # the units in order: d, h, m, s
        ("-1h", "is not a duration"),
        ("''", "is not a duration"),
        ("91d", "at most 90d"),
        ("-5", "is not negative"),
        ("true", "give a duration"),
    ],
)
def test_check_config_refuses_a_bad_age_on_its_line_with_a_hint(age: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(CONFIG.format(age=age), "bot.yaml")
    problems = exc.value.problems
    assert any(
        p.startswith("bot.yaml:11: rules[0].policy.min_release_age") and expected in p for p in problems
    ), problems

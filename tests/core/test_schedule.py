"""environments.<env>.schedule (issue 25 item 1): the window's minutes in its time zone, when it
next opens, and what check-config refuses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.core.config import load_config
from bot.core.keys import GroupKey
from bot.errors import ConfigError

CONFIG = """
version: 1
forges: [{{name: local, kind: local, path: /tmp/x}}]
environments:
  prod:
    schedule: {schedule}
  dev: {{}}
rules:
  - name: api
    image: ghcr.io/acme/api
    targets:
      - {{forge: local, repo: deploy, environment: prod, files: [prod.yaml]}}
      - {{forge: local, repo: deploy, environment: dev, files: [dev.yaml]}}
"""
BERLIN = '{timezone: Europe/Berlin, cron: ["* 9-16 * * 1-5", "0-29 10 * * 6"]}'
PROD = GroupKey("local", "deploy", "main", "prod")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def schedule(text: str = BERLIN):  # type: ignore[no-untyped-def]
    found = load_config(CONFIG.format(schedule=text), "bot.yaml").schedule_of(PROD)
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("moment", "open_", "opens"),
    [
        ("2026-12-07T09:00:00+01:00", True, "2026-12-07T09:00:00+01:00"),  # Monday, first minute
        ("2026-12-07T16:59:59+01:00", True, "2026-12-07T16:59:59+01:00"),
        ("2026-12-07T17:00:00+01:00", False, "2026-12-08T09:00:00+01:00"),  # Monday evening
        ("2026-12-11T18:00:00+01:00", False, "2026-12-12T10:00:00+01:00"),  # Friday → Saturday 10:00
        ("2026-12-12T10:30:00+01:00", False, "2026-12-14T09:00:00+01:00"),  # Saturday after 10:29
        ("2026-03-27T20:00:00+01:00", False, "2026-03-28T10:00:00+01:00"),
        ("2026-03-28T11:00:00+01:00", False, "2026-03-30T09:00:00+02:00"),  # across the DST change
    ],
)
def test_the_window_is_read_in_its_time_zone(moment: str, open_: bool, opens: str) -> None:
    found = schedule()
    assert found.is_open(at(moment)) is open_
    assert found.opens_at(at(moment)) == at(opens)


def test_an_environment_without_a_schedule_has_none() -> None:
    config = load_config(CONFIG.format(schedule=BERLIN), "bot.yaml")
    assert config.schedule_of(GroupKey("local", "deploy", "main", "dev")) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '{timezone: Europe/Berlln, cron: ["* * * * *"]}',
            "unknown time zone 'Europe/Berlln': use an IANA name",
        ),
        ('{cron: ["* * * *"]}', "is not a 5-field cron expression"),
        ('{cron: ["0 0 * * * 0"]}', "is not a 5-field cron expression"),
        ('{cron: ["61 * * * *"]}', "is not a 5-field cron expression"),
        ('{cron: ["0 0 30 2 *"]}', "never matches within a year"),
        ("{cron: []}", "needs at least 1 item"),
        ('{cron: ["* * * * *"], tz: UTC}', "unknown key 'tz'"),
    ],
)
def test_check_config_refuses_a_bad_window_on_its_line(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(CONFIG.format(schedule=text), "bot.yaml")
    problems = exc.value.problems
    assert any(p.startswith("bot.yaml:6: environments.prod.schedule") and expected in p for p in problems), (
        problems
    )

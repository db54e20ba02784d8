"""The routing config's registry keys: ``policy.verify``, ``policy.digest`` and ``rules[].poll``, each
refused with its line when it cannot work."""

from __future__ import annotations

import pytest

from tests.core.test_config import FORGES, load, problems

TARGET = "    targets: [{forge: github, repo: acme/deploy, environment: dev}]\n"


def rule(extra: str, match: str = "image: ghcr.io/acme/api") -> str:
    return FORGES + f"rules:\n  - name: api\n    {match}\n{extra}" + TARGET


def test_verify_is_on_by_default_and_resolves_from_defaults_to_target() -> None:
    config = load(
        FORGES + "defaults: {policy: {verify: false}}\n" + rule("    policy: {verify: true}\n")[len(FORGES) :]
    )
    (api,) = config.rules
    assert config.policy_for(api, api.targets[0]).verify
    assert load(rule("")).defaults.policy.verify


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("5m", 300), ("1h30m", 5400), ("120", 120)])
def test_poll_takes_a_duration(text: str, seconds: float) -> None:
    config = load(rule(f"    poll: {text}\n"))
    assert config.rules[0].poll == seconds
    assert config.poll_intervals() == {"ghcr.io/acme/api": seconds}


def test_the_shortest_poll_of_an_image_wins() -> None:
    text = FORGES + (
        "rules:\n"
        "  - {name: a, image: nginx, poll: 10m, targets: [{forge: github, repo: acme/deploy}]}\n"
        "  - {name: b, image: docker.io/library/nginx, poll: 2m, targets: [{forge: github, repo: acme/x}]}\n"
    )
    assert load(text).poll_intervals() == {"docker.io/library/nginx": 120}


@pytest.mark.parametrize(
    ("extra", "match", "expected"),
    [
        (
            "    poll: 30s\n",
            "image: ghcr.io/acme/api",
            "bot.yaml:7: rules[0].poll: poll at most once a minute (got 30 s): each poll asks the registry",
        ),
        (
            "    poll: often\n",
            "image: ghcr.io/acme/api",
            "bot.yaml:7: rules[0].poll: 'often' is not a duration: write it as '5m', '1h30m' or '90s'",
        ),
        (
            "    poll: 5m\n",
            "image_glob: 'ghcr.io/acme/*'",
            "bot.yaml:5: rules[0]: poll needs 'image' or 'chart' (a rule matching by image_glob names "
            "no one image to list)",
        ),
        (
            "    poll: 5m\n    policy: {ordering: run-number}\n",
            "image: ghcr.io/acme/api",
            "bot.yaml:7: rules[0].poll: poll cannot order listed tags by run-number (a tag carries no run or "
            "time): use semver, numeric, lexical or policy.digest",
        ),
        (
            "    policy: {digest: 'not a tag'}\n",
            "image: ghcr.io/acme/api",
            "bot.yaml:7: rules[0].policy.digest: invalid tag 'not a tag'",
        ),
    ],
)
def test_registry_keys_that_cannot_work_are_refused_with_their_line(
    extra: str, match: str, expected: str
) -> None:
    found = problems(rule(extra, match))
    assert len(found) == 1 and found[0].startswith(expected), found


def test_following_a_digest_polls_without_an_ordering() -> None:
    config = load(rule("    poll: 1m\n    policy: {ordering: push-time, digest: latest}\n"))
    assert config.poll_intervals() == {"ghcr.io/acme/api": 60}

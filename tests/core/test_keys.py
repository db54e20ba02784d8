"""Group and target keys: one string form, read back exactly (Redis, rq and the marker carry it)."""

from __future__ import annotations

import pytest

from bot.core.intents import UpdateIntent
from bot.core.keys import GroupKey, TargetKey


def test_group_key_round_trips_and_group_names_may_hold_colons() -> None:
    key = GroupKey("github", "acme/deploy", "main", "dev:api")
    assert str(key) == "github:acme/deploy:main:dev:api"
    assert GroupKey.parse(str(key)) == key


@pytest.mark.parametrize("text", ["github:acme/deploy:main", "github::main:dev", ""])
def test_a_malformed_group_key_is_refused_with_its_text(text: str) -> None:
    with pytest.raises(ValueError, match="not a group key"):
        GroupKey.parse(text)


def test_intent_keys_are_the_typed_keys() -> None:
    intent = UpdateIntent(
        forge="gh", repo="acme/deploy", base_branch="main", group="dev", environment="dev",
        files=("b.yaml", "a.yaml"), image="ghcr.io/acme/api", tag="1.0.0", digest=None,
        ordering_scheme="semver", ordering_key=(1, 0, 0), path="image.tag", doc=1,
    )  # fmt: skip
    assert GroupKey.parse(intent.group_key) == GroupKey("gh", "acme/deploy", "main", "dev")
    target = TargetKey.parse(intent.target_key)
    assert target == TargetKey("ghcr.io/acme/api", "1:image.tag", ("a.yaml", "b.yaml"))
    assert str(target) == intent.target_key


def test_a_target_selected_by_image_alone_reads_back() -> None:
    assert TargetKey.parse("docker.io/library/nginx||") == TargetKey("docker.io/library/nginx")

"""A Docker variant's version is written only where the manifest has that variant (Renovate's
docker versioning): 7.4.2-alpine never replaces 7.4.1 or 7.4.1-slim, 7.4.3 never replaces
7.4.1-alpine, and a file mixing them is edited reference by reference."""

from __future__ import annotations

from typing import Any

from bot.core.group_state import GroupState, Pin
from bot.core.intents import UpdateIntent
from bot.core.wanted import effective_intents
from bot.services.desired import edit_intent

MIXED = """\
spec:
  template:
    spec:
      containers:
        - name: cache
          image: redis:7.4.1-alpine   # the cache runs alpine
        - name: queue
          image: redis:7.4.1
        - name: slim
          image: docker.io/library/redis:7.4.1-slim
        - name: edge
          image: redis:latest
"""
VALUES = "cache:\n  image:\n    repository: redis\n    tag: 7.4.1-alpine\n"


def intent(tag: str, variant: str | None, **kw: Any) -> UpdateIntent:
    return UpdateIntent(
        forge="gh",
        repo="acme/deploy",
        base_branch="main",
        group="dev",
        environment="dev",
        files=("app.yaml",),
        image="docker.io/library/redis",
        tag=tag,
        digest=None,
        ordering_scheme="semver",
        ordering_key=(),
        variant=variant,
        **kw,
    )


def tags(text: str) -> list[str]:
    return [line.split("redis:")[1].split()[0] for line in text.splitlines() if "redis:" in line]


def test_a_variant_replaces_only_its_own_variant_and_tags_that_are_no_version() -> None:
    result = edit_intent(MIXED, "app.yaml", intent("7.4.2-alpine", "alpine"))
    assert tags(result.text) == ["7.4.2-alpine", "7.4.1", "7.4.1-slim", "7.4.2-alpine"]
    assert "# the cache runs alpine" in result.text
    assert [c.path for c in result.changes] == [
        "spec.template.spec.containers[0].image",
        "spec.template.spec.containers[3].image",
    ]


def test_a_plain_version_never_replaces_a_variant() -> None:
    result = edit_intent(MIXED, "app.yaml", intent("7.4.3", ""))
    assert tags(result.text) == ["7.4.1-alpine", "7.4.3", "7.4.1-slim", "7.4.3"]


def test_without_variants_every_reference_takes_the_tag() -> None:
    result = edit_intent(MIXED, "app.yaml", intent("7.4.2-alpine", None))
    assert tags(result.text) == ["7.4.2-alpine"] * 4


def test_a_variant_finds_its_tag_in_helm_values_and_nothing_else_matches_nothing() -> None:
    assert "tag: 7.4.2-alpine" in edit_intent(VALUES, "values.yaml", intent("7.4.2-alpine", "alpine")).text
    untouched = edit_intent(VALUES, "values.yaml", intent("7.4.2-slim", "slim"))
    assert (untouched.text, untouched.changes, untouched.matched) == (VALUES, (), 0)


def test_a_pin_holds_only_the_targets_of_its_variant() -> None:
    state = GroupState(pinned=(Pin("redis", "7.4.1-alpine", None),))
    plain, alpine = intent("7.4.3", ""), intent("7.4.2-alpine", "alpine")
    held = {i.variant: i.tag for i in effective_intents([plain, alpine], state)}
    assert held == {"": "7.4.3", "alpine": "7.4.1-alpine"}

"""Pure decisions behind ignore, promote and narrowing to one image."""

from __future__ import annotations

import pytest

from bot.core.chatops.commands import IgnoreScope
from bot.core.chatops.decisions import (
    Refusal,
    Version,
    describe_ignore,
    ignore_key,
    ignore_mark,
    narrow,
    next_environment,
    promotion_target,
    resolve_image,
)
from bot.core.group_state import GroupState
from bot.core.intents import UpdateIntent
from bot.core.merge import merge
from bot.core.versions import ordering_key

S = IgnoreScope


def intent(tag: str, image: str = "ghcr.io/acme/api", scheme: str = "semver") -> UpdateIntent:
    key = ordering_key(scheme, tag, run_number=int(tag) if tag.isdigit() else None)  # type: ignore[arg-type]
    return UpdateIntent(
        forge="local",
        repo="ops",
        base_branch="main",
        group="api",
        environment="dev",
        files=("deploy/api.yaml",),
        image=image,
        tag=tag,
        digest=None,
        ordering_scheme=scheme,
        ordering_key=key,
    )


@pytest.mark.parametrize(
    ("scope", "current", "candidate", "blocked"),
    [
        (S.VERSION, "2.3.1", "2.3.1", True),
        (S.VERSION, "2.3.1", "2.3.0", True),
        (S.VERSION, "2.3.1", "2.3.2", False),
        (S.PATCH, "2.3.1", "2.3.1+build.7", True),
        (S.PATCH, "2.3.1", "2.3.2", False),
        (S.MINOR, "2.3.1", "2.3.9", True),
        (S.MINOR, "2.3.1", "2.4.0", False),
        (S.MAJOR, "2.3.1", "2.99.99", True),
        (S.MAJOR, "2.3.1", "3.0.0-rc.1", False),
        (S.MAJOR, "2.3.1", "3.0.0", False),
    ],
)
def test_ignore_marks_block_the_line_and_let_newer_lines_through(
    scope: IgnoreScope, current: str, candidate: str, blocked: bool
) -> None:
    """Checked through the real intent merge and GroupState, the way reconcile applies them."""
    state = GroupState(ignored=(ignore_mark(scope, Version.of(intent(current))),))
    incoming = intent(candidate)
    assert state.is_ignored(incoming) is blocked
    outcome = merge({}, {}, [incoming], state)
    assert (not outcome.changed) is blocked
    if blocked:
        assert outcome.superseded[0].reason == "ignored"


def test_ignoring_the_image_blocks_every_version_of_it_only() -> None:
    state = GroupState(ignored=(ignore_mark(S.IMAGE, Version.of(intent("1.0.0"))),))
    assert state.is_ignored(intent("99.0.0"))
    assert state.is_ignored(intent("417", scheme="run-number"))
    assert not state.is_ignored(intent("1.0.0", image="ghcr.io/acme/web"))


def test_line_ignores_need_semantic_versions() -> None:
    with pytest.raises(Refusal, match="not ordered by semantic version, so it has no major line"):
        ignore_key(S.MAJOR, Version.of(intent("417", scheme="run-number")))
    assert ignore_key(S.VERSION, Version.of(intent("417", scheme="run-number"))) == (417,)


@pytest.mark.parametrize(
    ("scope", "tag", "text"),
    [
        (S.MAJOR, "2.3.1", "`img` 2.x and below"),
        (S.MINOR, "v2.3.1", "`img` 2.3.x and below"),
        (S.PATCH, "2.3.1", "`img` 2.3.1 and below"),
        (S.VERSION, "abc123", "`img` abc123 and below"),
        (S.IMAGE, "2.3.1", "`img` (every version)"),
    ],
)
def test_ignore_descriptions(scope: IgnoreScope, tag: str, text: str) -> None:
    assert describe_ignore("img", scope, tag) == text


def test_narrow_needs_versions() -> None:
    with pytest.raises(Refusal, match="this PR has no versions I know of"):
        narrow([], None)


def test_narrow_to_one_image_by_any_spelling() -> None:
    nginx, api = Version.of(intent("1.25.0", image="docker.io/library/nginx")), Version.of(intent("2.0.0"))
    assert narrow([nginx, api], None) == [nginx, api]
    assert narrow([nginx, api], "nginx") == [nginx]
    assert narrow([nginx, api], "api") == [api]  # the short name people write
    with pytest.raises(
        Refusal, match=r"this PR does not update `redis` \(its images: `ghcr.io/acme/api`, `nginx`\)"
    ):
        narrow([nginx, api], "redis")


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("frontend", "ghcr.io/acme/frontend"),
        ("acme/frontend", "ghcr.io/acme/frontend"),
        ("GHCR.io/acme/frontend", "ghcr.io/acme/frontend"),
        ("redis", "docker.io/library/redis"),
        ("library/redis", "docker.io/library/redis"),
        ("docker.io/redis", "docker.io/library/redis"),
    ],
)
def test_a_short_name_means_the_prs_image(name: str, found: str) -> None:
    images = ["ghcr.io/acme/frontend", "docker.io/library/redis", "ghcr.io/acme/api"]
    assert resolve_image(images, name) == found


@pytest.mark.parametrize(
    ("name", "message"),
    [
        # the case: `pin frontend:v0.10.6` must never mean docker.io/library/frontend
        ("frontend", r"this PR does not update `frontend` \(its images: `ghcr.io/acme/api`\)"),
        ("end", r"this PR does not update `end`"),  # a path segment, not a suffix of one
        ("api", r"`api` could be `ghcr.io/acme/api`, `quay.io/team/api`; give the full image name"),
    ],
)
def test_a_name_the_pr_does_not_hold_or_holds_twice_is_refused(name: str, message: str) -> None:
    images = ["ghcr.io/acme/api"] if name != "api" else ["ghcr.io/acme/api", "quay.io/team/api"]
    with pytest.raises(Refusal, match=message):
        resolve_image(images, name)


CHAINS = [["dev", "staging", "prod"], ["dev", "qa"]]


@pytest.mark.parametrize(
    ("current", "wanted", "result"),
    [
        ("staging", None, "prod"),
        ("staging", "prod", "prod"),
        ("staging", "PROD", "prod"),
        ("dev", "staging", "staging"),
        ("dev", "qa", "qa"),
    ],
)
def test_promotion_follows_the_chain(current: str, wanted: str | None, result: str) -> None:
    assert promotion_target(CHAINS, current, wanted) == result


@pytest.mark.parametrize(
    ("current", "wanted", "message"),
    [
        ("dev", "prod", "`dev` promotes to `qa` or `staging`, not `prod`"),
        ("dev", None, "`dev` promotes to several environments (`qa`, `staging`); name one"),
        ("prod", None, "`prod` is the last environment of its promotion chain"),
        ("sandbox", "prod", "no promotion chain in the config starts from or passes through `sandbox`"),
        (None, "prod", "this PR has no environment"),
    ],
)
def test_promotion_refusals(current: str | None, wanted: str | None, message: str) -> None:
    with pytest.raises(Refusal, match=message.replace("(", r"\(").replace(")", r"\)")):
        promotion_target(CHAINS, current, wanted)


def test_next_environment() -> None:
    assert next_environment(["dev", "prod"], "dev") == "prod"
    assert next_environment(["dev", "prod"], "prod") is None
    assert next_environment(["dev", "prod"], None) is None

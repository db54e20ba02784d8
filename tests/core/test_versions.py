from __future__ import annotations

import random

import pytest
import semantic_version
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.versions import (
    SemVer,
    Unorderable,
    choose_scheme,
    ordering_key,
    parse_range,
    parse_semver,
    rejection,
    semver_key,
)


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("1.2.3", SemVer(1, 2, 3)),
        ("v1.2.3", SemVer(1, 2, 3)),
        ("V1.2", SemVer(1, 2, 0)),
        ("2024.01.15", SemVer(2024, 1, 15)),  # calver: leading zeros allowed
        ("1.2.3-rc.1", SemVer(1, 2, 3, ("rc", "1"))),
        ("1.2.3_45", SemVer(1, 2, 3, (), ("45",))),  # docker tags cannot hold '+'
        ("1.2.3+build.7", SemVer(1, 2, 3, (), ("build", "7"))),
        ("1.2.3-rc.1_7", SemVer(1, 2, 3, ("rc", "1"), ("7",))),
        ("latest", None),
        ("1234567", None),  # a short sha of digits is not a version
        ("abc1234", None),
        ("1.2.3.4", None),
        ("1.2.", None),
    ],
)
def test_parse_semver(tag: str, expected: SemVer | None) -> None:
    assert parse_semver(tag) == expected


SEMVER_ORDER = [
    "0.9.0",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.0_2",
    "1.0.0_10",
    "1.2",
    "v1.10.0",
    "2024.01.15",
    "2024.2.1",
]


def test_semver_keys_sort_in_semver_precedence() -> None:
    shuffled = SEMVER_ORDER[:]
    random.Random(7).shuffle(shuffled)
    assert sorted(shuffled, key=lambda t: ordering_key("semver", t)) == SEMVER_ORDER


def test_v_prefix_does_not_change_the_key() -> None:
    assert ordering_key("semver", "v1.2.3") == ordering_key("semver", "1.2.3")


_ident = st.one_of(st.integers(0, 50).map(str), st.sampled_from(["alpha", "beta", "rc", "x-y"]))
_versions = st.builds(
    SemVer,
    st.integers(0, 5),
    st.integers(0, 5),
    st.integers(0, 5),
    st.lists(_ident, max_size=3).map(tuple),
)


@settings(max_examples=100, deadline=None)
@given(_versions, _versions)
def test_semver_key_agrees_with_semantic_version(a: SemVer, b: SemVer) -> None:
    va, vb = a.to_version(), b.to_version()
    assert (semver_key(a) < semver_key(b)) == (va < vb)
    assert (semver_key(a) == semver_key(b)) == (va == vb)


@pytest.mark.parametrize(
    ("scheme", "lower", "higher"),
    [
        ("numeric", "build-9", "build-10"),
        ("numeric", "20240115.3", "20240115.12"),
        ("lexical", "2024-01-09", "2024-01-10"),
    ],
)
def test_tag_schemes_order(scheme: str, lower: str, higher: str) -> None:
    assert ordering_key(scheme, lower) < ordering_key(scheme, higher)  # type: ignore[arg-type]


def test_run_number_orders_ci_builds_and_falls_back_to_the_run_id() -> None:
    assert ordering_key("run-number", "abc1234", run_number=9) < ordering_key(
        "run-number", "0ff1ce0", run_number=10
    )
    assert ordering_key("run-number", "x", run_id="123456") == (123456,)


def test_push_time_orders_instants_across_time_zones() -> None:
    utc = ordering_key("push-time", None, when="2024-05-01T10:00:00Z")
    same = ordering_key("push-time", None, when="2024-05-01T12:00:00+02:00")
    later = ordering_key("push-time", None, when="2024-05-01T10:00:00.000001Z")
    assert utc == same < later


@pytest.mark.parametrize(
    ("scheme", "tag", "kwargs", "message"),
    [
        ("semver", "latest", {}, "tag 'latest' is not a version (ordering: semver)"),
        ("numeric", "latest", {}, "tag 'latest' has no number to order by (ordering: numeric)"),
        ("semver", None, {}, "ordering semver needs a tag; this event has only a digest"),
        (
            "run-number",
            "abc",
            {},
            "ordering run-number needs a CI run number or pipeline id; this event has none",
        ),
        ("push-time", "abc", {}, "ordering push-time needs a push or finish time; this event has none"),
        ("push-time", "abc", {"when": "yesterday"}, "cannot read time 'yesterday'"),
    ],
)
def test_unorderable_explains_why(scheme: str, tag: str | None, kwargs: dict, message: str) -> None:
    with pytest.raises(Unorderable) as info:
        ordering_key(scheme, tag, **kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    ("choice", "tag", "run_number", "expected"),
    [
        ("auto", "v1.2.3", 7, "semver"),
        ("auto", "abc1234", 7, "run-number"),
        ("auto", "1234567", 7, "run-number"),
        ("auto", "latest", None, "push-time"),
        ("auto", None, None, "push-time"),
        ("lexical", "v1.2.3", 7, "lexical"),
    ],
)
def test_auto_ordering_picks_the_safest_scheme(
    choice: str, tag: str | None, run_number: int | None, expected: str
) -> None:
    assert choose_scheme(choice, tag, run_number=run_number) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tag", "policy", "reason"),
    [
        # semver ranges, with and without v
        ("1.4.0", {"semver": "^1.2"}, None),
        ("v1.4.0", {"semver": "^1.2"}, None),
        ("1.4.0", {"semver": "^v1.2"}, None),
        ("2.0.0", {"semver": "^1.2"}, "tag '2.0.0' is outside the semver range '^1.2'"),
        ("1.2.9", {"semver": "~1.2"}, None),
        ("1.3.0", {"semver": "~1.2"}, "tag '1.3.0' is outside the semver range '~1.2'"),
        ("1.9.9", {"semver": ">=1.2 <2"}, None),
        ("1.9.9", {"semver": ">=1.2, <2"}, None),  # Cargo-style comma
        ("1.1.0", {"semver": ">=1.2, <2"}, "tag '1.1.0' is outside the semver range '>=1.2, <2'"),
        (
            "latest",
            {"semver": "^1"},
            "tag 'latest' is not a version, so it cannot satisfy the semver range '^1'",
        ),
        # prereleases
        ("1.3.0-rc.1", {}, "tag '1.3.0-rc.1' is a prerelease and prereleases are off"),
        ("1.3.0-rc.1", {"semver": "^1.2", "prereleases": True}, None),
        (
            "2.0.0-rc.1",
            {"semver": "^1.2", "prereleases": True},
            "tag '2.0.0-rc.1' is outside the semver range '^1.2'",
        ),
        # calver and build numbers
        ("2024.03.01", {"semver": ">=2024.1.0"}, None),
        ("2023.12.31", {"semver": ">=2024.1.0"}, "tag '2023.12.31' is outside the semver range '>=2024.1.0'"),
        ("1.2.3_45", {"semver": "^1.2"}, None),
        # regex filters (searched)
        ("1.2.3", {"allow": r"^\d+\.\d+\.\d+$"}, None),
        (
            "main-abc1234",
            {"allow": r"^\d+\.\d+\.\d+$"},
            r"tag 'main-abc1234' does not match the allow pattern '^\\d+\\.\\d+\\.\\d+$'",
        ),
        (
            "1.2.3-debug",
            {"deny": "-debug$", "prereleases": True},
            "tag '1.2.3-debug' matches the deny pattern '-debug$'",
        ),
        ("main-abc1234", {"allow": "^main-"}, None),
        # ignore lists: exact, glob, and v-prefixed tags against plain versions
        ("1.4.0", {"ignore": ("1.4.0",)}, "tag '1.4.0' is in the ignore list ('1.4.0')"),
        ("1.5.7", {"ignore": ("1.5.*",)}, "tag '1.5.7' is in the ignore list ('1.5.*')"),
        ("v1.5.7", {"ignore": ("1.5.*",)}, "tag 'v1.5.7' is in the ignore list ('1.5.*')"),
        ("1.6.0", {"ignore": ("1.5.*",)}, None),
    ],
)
def test_policy_rejection(tag: str, policy: dict, reason: str | None) -> None:
    assert rejection(tag, **policy) == reason


def test_bad_range_message() -> None:
    with pytest.raises(ValueError) as info:
        parse_range("^1.x.y")
    assert str(info.value) == (
        "invalid semver range '^1.x.y': use npm/Cargo syntax such as '^1.2', '~1.2.3', '>=1.2 <2'"
    )


def test_range_is_an_npm_spec() -> None:
    assert isinstance(parse_range(">=1.0.0 || <0.5"), semantic_version.NpmSpec)

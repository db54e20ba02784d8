from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.group_state import GroupState, IgnoreMark
from bot.core.intents import Origin, UpdateIntent
from bot.core.merge import Mark, comparable, merge, satisfied
from bot.core.versions import choose_scheme, ordering_key

IMAGE = "ghcr.io/acme/api"


def intent(
    tag: str, key: tuple, *, image: str = IMAGE, rollback: bool = False, digest: str | None = None
) -> UpdateIntent:
    return UpdateIntent(
        forge="local",
        repo="manifests",
        base_branch="main",
        group="prod",
        environment="prod",
        files=("apps/api.yaml",),
        image=image,
        tag=tag,
        digest=digest,
        ordering_scheme="semver",
        ordering_key=key,
        rollback=rollback,
        origin=Origin(delivery_id=f"d-{tag}"),
    )


def test_higher_key_wins_and_raises_mark() -> None:
    out = merge({}, {}, [intent("1.2.0", (1, 2, 0)), intent("1.3.0", (1, 3, 0))])
    target = intent("x", ()).target_key
    assert out.active[target].tag == "1.3.0"
    assert out.marks[target].tag == "1.3.0"
    assert out.superseded == ()


def test_late_older_build_is_superseded_not_applied() -> None:
    first = merge({}, {}, [intent("1.3.0", (1, 3, 0))])
    late = merge(first.active, first.marks, [intent("1.2.9", (1, 2, 9))])
    assert not late.changed
    (sup,) = late.superseded
    assert (sup.tag, sup.reason, sup.winner_tag, sup.delivery_id) == ("1.2.9", "older", "1.3.0", "d-1.2.9")


def test_duplicate_is_no_change_but_new_digest_for_same_key_is_news() -> None:
    first = merge({}, {}, [intent("1.3.0", (1, 3, 0), digest="sha256:" + "a" * 64)])
    dup = merge(first.active, first.marks, [intent("1.3.0", (1, 3, 0), digest="sha256:" + "a" * 64)])
    assert not dup.changed and dup.superseded[0].reason == "duplicate"
    no_digest = merge(first.active, first.marks, [intent("1.3.0", (1, 3, 0))])
    assert not no_digest.changed
    repushed = merge(first.active, first.marks, [intent("1.3.0", (1, 3, 0), digest="sha256:" + "b" * 64)])
    assert repushed.changed


def test_mark_survives_cleared_intent_so_old_build_cannot_reopen() -> None:
    first = merge({}, {}, [intent("1.3.0", (1, 3, 0))])
    # the PR merged: the active intent is cleared, the mark stays
    late = merge({}, first.marks, [intent("1.1.0", (1, 1, 0))])
    assert not late.changed and late.superseded[0].reason == "older"


def test_rollback_goes_down_and_keeps_the_mark() -> None:
    first = merge({}, {}, [intent("1.3.0", (1, 3, 0))])
    target = intent("x", ()).target_key
    back = merge(first.active, first.marks, [intent("1.1.0", (1, 1, 0), rollback=True)])
    assert back.active[target].tag == "1.1.0"
    assert back.marks == {}  # the high-water mark stays at 1.3.0
    active = {**first.active, **back.active}
    late = merge(active, first.marks, [intent("1.2.0", (1, 2, 0))])
    assert not late.changed, "an old build arriving after a rollback must not undo it"
    newer = merge(active, first.marks, [intent("1.4.0", (1, 4, 0))])
    assert newer.active[target].tag == "1.4.0"


def test_ignored_version_and_below_rejected_newer_passes() -> None:
    target = intent("x", ()).target_key
    state = GroupState(ignored=(IgnoreMark(IMAGE, (1, 3, 0), "semver", "1.3.0"),))
    out = merge({}, {}, [intent("1.3.0", (1, 3, 0)), intent("1.2.0", (1, 2, 0))], state)
    assert not out.changed
    assert [s.reason for s in out.superseded] == ["ignored", "ignored"]
    assert merge({}, {}, [intent("1.3.1", (1, 3, 1))], state).active[target].tag == "1.3.1"
    assert merge({}, {}, [intent("1.0.0", (1, 0, 0), rollback=True)], state).changed


def test_pin_does_not_stop_merging_newer_versions() -> None:
    # the lifecycle service holds the PR at the pin; merging still tracks the newest for unpin
    from bot.core.group_state import Pin

    state = GroupState(pinned=(Pin(IMAGE, "1.2.0"),))
    assert merge({}, {}, [intent("1.3.0", (1, 3, 0))], state).changed


def test_targets_are_independent() -> None:
    out = merge({}, {}, [intent("2.0.0", (2, 0, 0)), intent("1.0.0", (1, 0, 0), image="ghcr.io/acme/web")])
    assert sorted(i.tag for i in out.active.values()) == ["1.0.0", "2.0.0"]


def test_another_scheme_is_superseded_with_its_reason() -> None:
    first = merge({}, {}, [intent("9.0.0", (9, 0, 0))])
    other = replace(intent("abc123", (42,)), ordering_scheme="run-number")
    out = merge(first.active, first.marks, [other])
    assert not out.changed
    assert [(s.tag, s.reason, s.winner_tag) for s in out.superseded] == [("abc123", "scheme", "9.0.0")]


def test_an_allowed_scheme_change_is_accepted() -> None:
    first = merge({}, {}, [intent("9.0.0", (9, 0, 0))])
    other = replace(intent("abc123", (42,)), ordering_scheme="run-number", allow_scheme_change=True)
    out = merge(first.active, first.marks, [other])
    target = other.target_key
    assert out.active[target].tag == "abc123"
    assert out.marks[target].others == (("semver", (9, 0, 0)),)


def test_semver_then_push_time_then_a_late_older_semver_never_goes_back() -> None:
    """The issue's case: ``2.0.0``, then ``latest`` (push time), then a late ``1.9.0``."""
    semver = intent("2.0.0", (2, 0, 0))
    latest = replace(intent("latest", (1_700_000_000_000_000,)), ordering_scheme="push-time")
    late = intent("1.9.0", (1, 9, 0))
    target = semver.target_key
    for allowed in (False, True):
        steps = [replace(i, allow_scheme_change=allowed) for i in (semver, latest, late)]
        out = merge({}, {}, steps)
        assert out.active[target].tag == ("latest" if allowed else "2.0.0")
        assert {s.tag: s.reason for s in out.superseded} == (
            {"1.9.0": "older"} if allowed else {"latest": "scheme", "1.9.0": "older"}
        )


def test_a_mark_round_trips_its_other_schemes() -> None:
    mark = Mark("push-time", (5,), "latest", None, (("semver", (2, 0, 0)),))
    assert Mark.from_dict(mark.to_dict()) == mark
    assert Mark.from_dict({"scheme": "semver", "key": [1, 2, 3], "tag": "1.2.3"}).others == ()


def test_mixed_int_and_str_parts_compare_without_error() -> None:
    assert comparable((1, "rc1")) > comparable((1, 0))
    assert comparable((1, 2)) < comparable((1, 2, 0))


def test_satisfied_clears_applied_or_lower() -> None:
    out = merge({}, {}, [intent("1.3.0", (1, 3, 0)), intent("2.0.0", (2, 0, 0), image="ghcr.io/acme/web")])
    api = intent("x", ()).target_key
    web = intent("x", (), image="ghcr.io/acme/web").target_key
    applied = {api: Mark("semver", (1, 3, 0), "1.3.0", None), web: Mark("semver", (1, 9, 0), "1.9.0", None)}
    assert satisfied(out.active, applied) == [api]


@settings(max_examples=100, deadline=None)
@given(
    versions=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5)), min_size=1, max_size=15),
    data=st.data(),
)
def test_any_arrival_order_ends_at_the_highest_and_never_goes_down(versions, data) -> None:
    order = data.draw(st.permutations(versions))
    active: dict = {}
    marks: dict = {}
    seen: list[tuple] = []
    for major, minor in order:
        out = merge(active, marks, [intent(f"{major}.{minor}.0", (major, minor, 0))])
        for target, new in out.active.items():
            if target in active:
                assert new.ordering_key >= active[target].ordering_key, "downgrade"
        active.update(out.active)
        marks.update(out.marks)
        seen.append((major, minor, 0))
    (final,) = active.values()
    assert final.ordering_key == max(seen)


_TAGS = st.one_of(
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)).map(lambda v: ("semver", v)),
    st.integers(1, 500).map(lambda n: ("run-number", n)),
    st.integers(1, 10_000).map(lambda t: ("push-time", t)),
)


def _planned(kind: str, value: object, *, allowed: bool) -> UpdateIntent:
    """An intent as ``ordering: auto`` plans it for a semver tag, a CI run, or a moving tag."""
    if kind == "semver":
        tag = ".".join(map(str, value))  # type: ignore[arg-type]
        scheme = choose_scheme("auto", tag)
        key = ordering_key(scheme, tag)
    elif kind == "run-number":
        tag, scheme = f"build-{value}", choose_scheme("auto", f"build-{value}", run_number=value)  # type: ignore[arg-type]
        key = ordering_key(scheme, tag, run_number=value)  # type: ignore[arg-type]
    else:
        tag, scheme = "latest", choose_scheme("auto", "latest")
        key = ordering_key(scheme, tag, when=f"2024-01-01T00:00:00.{value:06d}Z")
    assert scheme == kind
    return replace(intent(tag, key), ordering_scheme=scheme, allow_scheme_change=allowed)


@settings(max_examples=300)
@given(arrivals=st.lists(st.tuples(_TAGS, st.booleans()), min_size=1, max_size=20))
def test_mixed_schemes_in_any_order_never_lower_a_targets_semver(arrivals) -> None:
    active: dict = {}
    marks: dict = {}
    best_semver: tuple | None = None
    for (kind, value), allowed in arrivals:
        out = merge(active, marks, [_planned(kind, value, allowed=allowed)])
        active.update(out.active)
        marks.update(out.marks)
        (current,) = active.values()
        if current.ordering_scheme == "semver":
            if best_semver is not None:
                assert comparable(current.ordering_key) >= comparable(best_semver), "semver went down"
            best_semver = current.ordering_key


def test_a_same_tag_ordered_lower_is_never_superseded_by_itself() -> None:
    """issue 21, item 6: v0.10.25 ordered lower (a push-time rebuild) names a later build, never
    "superseded by v0.10.25"."""
    first = merge({}, {}, [intent("v0.10.25", ("2024-02",))])
    again = merge(first.active, first.marks, [intent("v0.10.25", ("2024-01",))])
    (lost,) = again.superseded
    assert lost.describe() == "superseded by a later build of v0.10.25 (its version orders above this one)"

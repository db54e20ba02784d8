"""What became of each image and target of a delivery, and why (``bot.core.outcomes``): the
records the status page, the API, the worker's log and ``manifest-bot status`` show."""

from __future__ import annotations

import dataclasses

import pytest

from bot.core.group_state import GroupState, IgnoreMark, Pin
from bot.core.intents import Origin, PlanResult, Skip, UpdateIntent
from bot.core.merge import merge
from bot.core.outcomes import (
    MAX_PER_DELIVERY,
    TargetOutcome,
    bounded,
    outcomes_of,
    summary,
)

GROUP = "local:deploy:main:dev"


def intent(
    tag: str, *, run: int | None = None, delivery: str = "d1", image: str = "ghcr.io/acme/api"
) -> UpdateIntent:
    scheme, key = (
        ("run-number", (run,)) if run is not None else ("semver", tuple(int(p) for p in tag.split(".")))
    )
    return UpdateIntent(
        forge="local",
        repo="deploy",
        base_branch="main",
        group="dev",
        environment="dev",
        files=("dev/api.yaml",),
        image=image,
        tag=tag,
        digest=None,
        ordering_scheme=scheme,
        ordering_key=key,
        origin=Origin(delivery_id=delivery),
    )


def one(result: PlanResult, *earlier: UpdateIntent, state: GroupState | None = None) -> TargetOutcome:
    """The outcome of ``result``'s intent merged after ``earlier`` ones (each its own batch)."""
    active, marks = {}, {}
    for prior in earlier:
        done = merge(active, marks, [prior])
        active, marks = {**active, **done.active}, {**marks, **done.marks}
    merged = {GROUP: merge(active, marks, list(result.intents), state)}
    (outcome,) = outcomes_of([result], merged, {GROUP: state or GroupState()})
    return outcome


def test_an_accepted_version_goes_into_its_groups_pr() -> None:
    found = one(PlanResult((intent("1.5.0"),)))
    assert found == TargetOutcome(
        "accepted", "goes into the PR of group `dev`", "ghcr.io/acme/api", "1.5.0", GROUP
    )


def test_a_late_build_is_superseded_by_the_run_that_holds_the_target() -> None:
    found = one(PlanResult((intent("run-104", run=104),)), intent("run-106", run=106, delivery="d0"))
    assert (found.status, found.reason) == ("superseded", "superseded by run #106")


def test_an_older_tag_and_the_same_tag_again() -> None:
    older = one(PlanResult((intent("1.4.0"),)), intent("1.5.0", delivery="d0"))
    assert (older.status, older.reason) == ("superseded", "superseded by 1.5.0")
    again = one(PlanResult((intent("1.5.0"),)), intent("1.5.0", delivery="d0"))
    assert (again.status, again.reason) == ("superseded", "already at 1.5.0")


def test_two_versions_of_one_batch_the_first_is_superseded_by_the_second() -> None:
    first, second = intent("1.5.0", delivery="a"), intent("1.6.0", delivery="b")
    merged = {GROUP: merge({}, {}, [first, second])}
    found = outcomes_of([PlanResult((first,)), PlanResult((second,))], merged, {})
    assert [(o.tag, o.status, o.reason) for o in found] == [
        ("1.5.0", "superseded", "superseded by 1.6.0"),
        ("1.6.0", "accepted", "goes into the PR of group `dev`"),
    ]


def test_the_same_tag_pushed_again_in_one_batch_is_not_superseded_by_itself() -> None:
    """issue 21, item 6: a re-push of v0.10.25 with a new digest replaces the first in its batch;
    the first says a later push did, never "superseded by v0.10.25"."""
    first = intent("0.10.25", delivery="a")
    second = dataclasses.replace(intent("0.10.25", delivery="b"), digest="sha256:" + "b" * 64)
    merged = {GROUP: merge({}, {}, [first, second])}
    found = outcomes_of([PlanResult((first,)), PlanResult((second,))], merged, {})
    assert found[0].reason == "superseded by a later push of 0.10.25 (digest sha256:bbbbbbbbbbbb…)"


def test_held_pinned_by_whom_and_ignored_say_so() -> None:
    held = one(PlanResult((intent("1.5.0"),)), state=GroupState(hold=True))
    assert (held.status, held.reason) == (
        "held",
        "held: group `dev` is on hold (`unhold` on its PR resumes updates)",
    )
    pinned = one(
        PlanResult((intent("1.5.0"),)),
        state=GroupState(pinned=(Pin("ghcr.io/acme/api", "1.2.0", by="alice"),)),
    )
    assert (pinned.status, pinned.reason) == (
        "pinned",
        "pinned at 1.2.0 by @alice (`unpin` on its PR releases it)",
    )
    at_pin = one(PlanResult((intent("1.2.0"),)), state=GroupState(pinned=(Pin("ghcr.io/acme/api", "1.2.0"),)))
    assert at_pin.status == "accepted"  # the pin's own version is no reason to worry
    mark = IgnoreMark("ghcr.io/acme/api", (1, 5, 0), "semver", "`api` 1.5.0 and below")
    ignored = one(PlanResult((intent("1.5.0"),)), state=GroupState(ignored=(mark,)))
    assert (ignored.status, ignored.reason) == ("superseded", "ignored: `api` 1.5.0 and below")


def test_skips_keep_their_reason_image_and_target() -> None:
    skip = Skip(
        "tag '7.4.2-rc.1' is a prerelease and prereleases are off",
        "redis",
        "local:deploy@main/dev",
        "docker.io/library/redis",
        "7.4.2-rc.1",
    )
    (found,) = outcomes_of([PlanResult(skips=(skip,))], {}, {})
    assert found == TargetOutcome(
        "skipped", skip.reason, "docker.io/library/redis", "7.4.2-rc.1", None, "local:deploy@main/dev"
    )


@pytest.mark.parametrize(
    ("statuses", "verdict"),
    [
        (["skipped", "accepted"], "updated"),
        (["skipped", "waiting"], "waiting"),
        (["superseded", "held"], "held"),
        (["pinned"], "pinned"),
        (["done"], "done"),
        (["skipped", "superseded"], "nothing to do"),
        ([], ""),
    ],
)
def test_the_verdict_of_a_delivery(statuses: list[str], verdict: str) -> None:
    found = [TargetOutcome(s, f"because {s}", "img", "1") for s in statuses]  # type: ignore[arg-type]
    assert summary(found)[0] == verdict


def test_the_summary_names_the_reasons_once_and_bounds_them() -> None:
    found = [TargetOutcome("skipped", f"reason {n % 5}", "img", "1") for n in range(10)]
    assert summary(found) == (
        "nothing to do",
        "img 1: reason 0; img 1: reason 1; img 1: reason 2 (+2 more)",
    )


def test_records_round_trip_and_are_bounded() -> None:
    record = TargetOutcome("skipped", "no rule routes x", "x", "1")
    assert TargetOutcome.from_dict(record.to_dict()) == record
    assert record.to_dict() == {"status": "skipped", "reason": "no rule routes x", "image": "x", "tag": "1"}
    with pytest.raises(ValueError, match="unknown outcome status"):
        TargetOutcome.from_dict({"status": "exploded", "reason": ""})
    many = [TargetOutcome("skipped", "s")] * (MAX_PER_DELIVERY + 5) + [TargetOutcome("accepted", "a")]
    kept, left_out = bounded(many)
    assert len(kept) == MAX_PER_DELIVERY and left_out == 6
    assert kept[0].status == "accepted"  # what changed something is never the part left out


def test_a_version_the_registry_gave_its_digest_is_the_one_that_goes_into_the_pr() -> None:
    """With ``verify`` on (the default) the registry fills in the digest before the merge: the
    delivery's own version, not a later one, is what the PR gets ("updated", never "superseded by
    a later push" of itself)."""
    planned = intent("0.10.17")
    admitted = dataclasses.replace(planned, digest="sha256:" + "c" * 64)
    merged = {GROUP: merge({}, {}, [admitted])}
    (found,) = outcomes_of([PlanResult((planned,))], merged, {})
    assert (found.status, found.reason) == ("accepted", "goes into the PR of group `dev`")
    assert summary([found])[0] == "updated"

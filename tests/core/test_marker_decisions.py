"""People's decisions in the PR marker (``bot.core.kept``): they survive a round trip exactly, the
reader refuses anything that is not what the bot writes (with the reason, never an exception),
what the writer writes always reads back, and the comments that ran are remembered bounded."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from bot.core.chatops.decisions import _TOP
from bot.core.group_state import GroupState, IgnoreMark, Pin
from bot.core.intents import Origin, UpdateIntent
from bot.core.kept import MAX_BLOCK_CHARS, MAX_IGNORES, MAX_RAN, Asked, Decisions, Ran, replay
from bot.core.marker import (
    MAX_MARKER_CHARS,
    MarkedVersion,
    Marker,
    marker_problem,
    parse_marker,
    render_marker,
    replace_marker,
)
from bot.core.merge import Mark

GROUP = "github:acme/deploy:main:dev"
API = "ghcr.io/acme/api"


def intent(tag: str, *, rollback: bool = False, group: str = "dev", source: str = "chatops") -> UpdateIntent:
    return UpdateIntent(
        forge="github",
        repo="acme/deploy",
        base_branch="main",
        group=group,
        environment="dev",
        files=("envs/dev/api.yaml",),
        image=API,
        tag=tag,
        digest=None,
        ordering_scheme="semver",
        ordering_key=tuple(int(p) for p in tag.split(".")),
        rollback=rollback,
        origin=Origin(source=source, actor="mona", from_pr=7, delivery_id="comment:9"),
    )


ROLLBACK = intent("1.1.0", rollback=True)
MARK = Mark("semver", (1, 2, 0), "1.2.0", None)
DECISIONS = Decisions(
    pinned=(Pin("ghcr.io/acme/web", "2.0.5", None, "alice", "2024-05-01T10:00:00Z"),),
    ignored=(
        IgnoreMark(API, (1, 3, _TOP), "semver", "`api` 1.3.x and below"),
        IgnoreMark("ghcr.io/acme/worker", None, None, "`worker` (every version)"),
    ),
    hold=True,
    asked=(Asked(ROLLBACK, MARK),),
    ran=Ran().add(101, 105, 103),
)


def marker(decisions: Decisions | None = DECISIONS) -> Marker:
    version = MarkedVersion(API, ROLLBACK.target_key, "1.2.0", "1.1.0")
    return Marker(GROUP, base="b" * 40, head="c" * 40, versions=(version,), decisions=decisions)


def block(body: str) -> dict[str, Any]:
    data = json.loads(body.split("<!-- manifest-bot:", 1)[1].rsplit(" -->", 1)[0])
    return data["decisions"]


def with_block(decisions: object) -> str:
    """A body whose marker's decisions block a person replaced with ``decisions``."""
    text = render_marker(marker())
    data = json.loads(text[len("<!-- manifest-bot:") : -len(" -->")])
    data["decisions"] = decisions
    return f"Body\n\n<!-- manifest-bot:{json.dumps(data)} -->\n"


# --- round trip -----------------------------------------------------------------------------------
def test_every_decision_survives_a_round_trip_exactly() -> None:
    body = replace_marker("A person's words stay.\n", marker())
    read = parse_marker(body)
    assert read == marker() and read.refused is None  # type: ignore[union-attr]
    assert read.decisions.state() == GroupState(DECISIONS.ignored, DECISIONS.pinned, True)  # type: ignore[union-attr]
    assert block(body)["v"] == 1


def test_no_decisions_write_no_block() -> None:
    for nothing in (None, Decisions()):
        text = render_marker(marker(nothing))
        assert "decisions" not in text
        assert parse_marker(text).decisions is None  # type: ignore[union-attr]


def test_the_decisions_of_a_group_are_its_state_and_its_chat_ops_intents() -> None:
    state = GroupState(DECISIONS.ignored, DECISIONS.pinned, hold=True, last_error="boom")
    pushed = intent("1.4.0", source="generic")
    decisions = Decisions.of(state, [pushed, ROLLBACK], {ROLLBACK.target_key: MARK}, DECISIONS.ran)
    assert decisions == DECISIONS  # the error and the pushed version are not decisions


# --- the comments that ran ------------------------------------------------------------------------
def test_ran_remembers_the_newest_ids_and_a_floor_below_them() -> None:
    ran = Ran().add(*range(1, MAX_RAN + 11))
    assert len(ran.ids) == MAX_RAN and ran.floor == 10
    assert all(ran.has(i) for i in range(1, MAX_RAN + 11))
    assert not ran.has(MAX_RAN + 11)
    assert ran.add(5) == ran  # at or below the floor: already counted


def test_ran_out_of_order_ids_inside_the_window_stay_unrun_until_they_run() -> None:
    ran = Ran().add(10, 12)
    assert not ran.has(11) and ran.add(11).has(11)


def test_ran_ids_that_are_not_numbers_are_kept_by_name() -> None:
    ran = Ran().add("note-b", "note-a")
    assert ran.has("note-a") and not ran.has("note-c")
    assert Ran().add(*(f"n{i}" for i in range(MAX_RAN + 5))).floor is None


def test_ran_of_two_markers_is_their_union() -> None:
    assert Ran().add(1, 3).union(Ran((("7",)), 2)).ids == ("3", "7")


# --- refused --------------------------------------------------------------------------------------
GOOD = DECISIONS.to_dict()


def _tampered() -> list[tuple[str, object]]:
    pin = GOOD["pins"][0]
    asked = GOOD["asked"][0]
    return [
        ("not an object", ["hold"]),
        ("schema version 2", {**GOOD, "v": 2}),
        ("schema version None", {k: v for k, v in GOOD.items() if k != "v"}),
        ("unknown keys ['admin']", {**GOOD, "admin": True}),
        ("hold must be true or false", {**GOOD, "hold": "yes"}),
        ("expected exactly", {**GOOD, "pins": [{**pin, "tag": 5}]}),
        ("expected exactly", {**GOOD, "pins": [{**pin, "evil": "x"}]}),
        ("does not read back", {**GOOD, "hold": False}),  # the bot never writes a false hold
        (
            "fields the bot does not write",
            {**GOOD, "asked": [{**asked, "intent": {**asked["intent"], "x": 1}}]},
        ),
        (
            "fields the bot does not write",
            {**GOOD, "asked": [{**asked, "intent": {**asked["intent"], "tag": 7}}]},
        ),
        ("not as the bot writes it", {**GOOD, "asked": [{"intent": {"image": API}}]}),
        ("another group", {**GOOD, "asked": [{"intent": intent("1.0.0", group="prod").to_dict()}]}),
        ("two intents for one target", {**GOOD, "asked": [asked, asked]}),
        ("ran ids", {**GOOD, "ran": {"ids": [1, 2]}}),
        ("floor", {**GOOD, "ran": {"ids": [], "floor": -1}}),
        ("a string over", {**GOOD, "pins": [{**pin, "tag": "x" * 2000}]}),
        (
            "characters, more than",
            {**GOOD, "ignores": [GOOD["ignores"][0]] * 200 + [{"label": "y" * 1000}] * 50},
        ),
        ("more than the bot keeps", {**GOOD, "ignores": [GOOD["ignores"][1]] * (MAX_IGNORES + 1)}),
    ]


@pytest.mark.parametrize(("reason", "tampered"), _tampered())
def test_a_block_the_bot_did_not_write_is_refused_whole_with_the_reason(
    reason: str, tampered: object
) -> None:
    read = parse_marker(with_block(tampered))
    assert read is not None and read.group == GROUP and read.versions  # the rest still reads
    assert read.decisions is None
    assert read.refused is not None and reason in read.refused
    assert marker_problem(with_block(tampered)) == f"its decisions were refused: {read.refused}"


def test_random_damage_never_crashes_the_reader() -> None:
    rng = random.Random(20)
    text = json.dumps(GOOD)
    junk = ['"', "{", "}", "[", "]", ",", ":", "1", "null", "true", '"x"', "-", "\\", "\u00e9"]
    for _ in range(2000):
        chars = list(text)
        for _ in range(rng.randint(1, 4)):
            chars.insert(rng.randrange(len(chars)), rng.choice(junk))
        try:
            damaged = json.loads("".join(chars))
        except json.JSONDecodeError:
            continue
        read = parse_marker(with_block(damaged))
        assert read is not None and (read.decisions is None) == (read.refused is not None)


@pytest.mark.parametrize(
    "text",
    [
        '{"group":"' + GROUP + '","decisions":' + "[" * 100_000 + "]" * 100_000 + "}",
        '{"group":1,"x":' + "9" * 5000 + "}",
    ],
    ids=["nested too deep", "an int too long"],
)
def test_json_that_python_will_not_read_is_no_marker_and_no_crash(text: str) -> None:
    assert parse_marker(f"<!-- manifest-bot:{text} -->") is None


def test_an_oversized_marker_is_not_read_at_all() -> None:
    body = with_block({**GOOD, "padding": "x" * MAX_MARKER_CHARS})
    assert parse_marker(body) is None
    assert marker_problem(body) == f"its marker is unreadable or longer than {MAX_MARKER_CHARS} characters"


# --- the writer stays within what the reader takes ------------------------------------------------
def test_what_the_bot_writes_it_always_reads_back() -> None:
    many = tuple(
        IgnoreMark(f"registry.example.com/team/image-{i:04d}", (i, _TOP), "semver", f"label {'x' * 200} {i}")
        for i in range(400)
    )
    decisions = Decisions.of(GroupState(ignored=many), [ROLLBACK], {}, Ran().add(*range(80)))
    text = render_marker(marker(decisions))
    assert len(json.dumps(block(text), separators=(",", ":"))) <= MAX_BLOCK_CHARS
    read = parse_marker(text)
    assert read is not None and read.refused is None and read.decisions == decisions
    assert decisions.ignored[-1] == many[-1]  # the newest are the ones kept


# --- rebuilding -----------------------------------------------------------------------------------
def test_replay_keeps_a_rollback_against_an_older_build_and_yields_to_a_newer_one() -> None:
    kept = [Asked(ROLLBACK, MARK)]
    redelivered = intent("1.2.0", source="generic")
    active, marks = replay(kept, {ROLLBACK.target_key: redelivered}, GroupState())
    assert active[ROLLBACK.target_key] == ROLLBACK and marks[ROLLBACK.target_key] == MARK
    newer = intent("1.2.1", source="generic")
    active, marks = replay(kept, {ROLLBACK.target_key: newer}, GroupState())
    assert active[ROLLBACK.target_key] == newer and marks[ROLLBACK.target_key].tag == "1.2.1"
    assert replay(kept, {}, GroupState())[0] == {ROLLBACK.target_key: ROLLBACK}

"""The hidden marker: what it carries survives a round trip, and hand-edited junk is ignored."""

from __future__ import annotations

import pytest

from bot.core.marker import MarkedVersion, Marker, parse_marker, render_marker, replace_marker, tag_of

API = MarkedVersion("ghcr.io/acme/api", "ghcr.io/acme/api||a.yaml", "1.1.0", "1.2.0", "sha256:" + "a" * 64)


def test_versions_round_trip_and_read_as_tags() -> None:
    marker = Marker("gh:acme/deploy:main:dev", base="b" * 40, head="c" * 40, versions=(API,))
    text = render_marker(marker)
    assert parse_marker(f"Some text\n\n{text}\n") == marker
    assert parse_marker(text).tags() == {"ghcr.io/acme/api": ("1.1.0", "1.2.0")}  # type: ignore[union-attr]


def test_versions_that_are_not_versions_are_dropped_not_fatal() -> None:
    body = '<!-- manifest-bot:{"group":"g:r:main:dev","versions":[7,{"image":1},{"image":"x","old":5}]} -->'
    marker = parse_marker(body)
    assert marker is not None
    assert marker.versions == (MarkedVersion("x", "", None, None, None),)


def test_a_replaced_marker_keeps_the_rest_of_the_body() -> None:
    body = "Hello\n\n" + render_marker(Marker("g:r:main:dev"))
    new = replace_marker(body, Marker("g:r:main:dev", state="blocked", versions=(API,)))
    assert new.startswith("Hello\n\n")
    assert parse_marker(new).state == "blocked"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("ghcr.io/acme/api:1.2.0", "1.2.0"),
        ("registry:5000/api:v2@sha256:" + "a" * 64, "v2"),
        ("1.4.0", "1.4.0"),
        ("registry:5000/api", None),
        ("sha256:" + "b" * 64, None),
        ("", None),
    ],
)
def test_tag_of_a_replaced_value(value: str, tag: str | None) -> None:
    assert tag_of(value) == tag

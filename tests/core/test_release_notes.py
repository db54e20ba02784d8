"""The PR body's release notes as text: which label names which repository, which tags name a
version, and release text shown as literal, bounded Markdown that mentions nobody."""

from __future__ import annotations

import re

import pytest

from bot.core.marker import Marker
from bot.core.ports import Release
from bot.core.release_notes import (
    MAX_RELEASE_CHARS,
    MAX_SECTION_CHARS,
    ImageNotes,
    SourceRepo,
    notes_lines,
    revision,
    sanitise,
    source_repo,
    tag_candidates,
)
from bot.core.render import BodyInput, Row, pr_body, short_image
from tests.core.test_render import intent

GITHUB = "https://github.com"


@pytest.mark.parametrize(
    ("url", "kind", "origin", "path"),
    [
        ("https://github.com/acme/api", "github", GITHUB, "acme/api"),
        ("https://github.com/acme/api.git", "github", GITHUB, "acme/api"),
        ("https://github.com/acme/api/tree/main/cmd", "github", GITHUB, "acme/api"),
        ("git+https://github.com/acme/api", "github", GITHUB, "acme/api"),
        ("https://GitHub.com/acme/api/", "github", GITHUB, "acme/api"),
        ("https://gitlab.example.com/group/sub/app", "gitlab", "https://gitlab.example.com", "group/sub/app"),
        (
            "https://gitlab.example.com/group/app/-/tree/main",
            "gitlab",
            "https://gitlab.example.com",
            "group/app",
        ),
        ("https://ghe.example.com/git/acme/api", "github", "https://ghe.example.com/git", "acme/api"),
    ],
)
def test_a_source_label_names_a_repository_of_the_forge_it_points_at(
    url: str, kind: str, origin: str, path: str
) -> None:
    found = source_repo(url, kind, origin)  # type: ignore[arg-type]
    assert found is not None and found.path == path and found.origin == origin


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/acme/api",  # another host: never asked
        "http://github.com/acme/api",  # another scheme is another origin
        "https://github.com.evil.example/acme/api",
        "https://github.com@evil.example/acme/api",
        "https://github.com/acme",  # no repository
        "https://github.com/acme/../api",
        "https://github.com/acme/api?x=1",
        "ssh://git@github.com/acme/api",
        "https://github.com/" + "a" * 400,
    ],
)
def test_a_source_elsewhere_or_no_repository_is_refused(url: str) -> None:
    assert source_repo(url, "github", GITHUB) is None


def test_versions_try_their_v_prefixed_twin_and_names_only_themselves() -> None:
    assert tag_candidates("1.4.0") == ("1.4.0", "v1.4.0")
    assert tag_candidates("v1.4.0") == ("v1.4.0", "1.4.0")
    assert tag_candidates("stable") == ("stable",)
    assert tag_candidates("1.0/../x") == ()


def test_only_plain_revisions_make_compare_links() -> None:
    assert revision("0123abcd" * 5) == "0123abcd" * 5
    assert revision("main") == "main"
    assert revision("a..b") is None
    assert revision("x y") is None
    assert revision(None) is None


def test_release_text_is_literal_and_mentions_nobody_outside_a_code_span() -> None:
    text, cut = sanitise(
        "## Fixes\nThanks @alice and @acme/team! Fixes #12, acme/api#7 and GH-3.\n"
        "</details><img src=x onerror=alert(1)> [click](https://evil.example) **bold**\n"
        "mail me: bob@example.com \u202eevil\u202c"
    )
    assert not cut
    assert "`@alice`" in text and "`@acme/team`" in text
    assert "`#12`" in text and "`acme/api#7`" in text and "`GH-3`" in text
    assert "`https://evil.example)`" in text or "`https://evil.example`" in text
    outside = re.sub(r"`[^`]*`", "", text)
    assert "@" not in outside.replace("\\@", "")  # every @ left outside a span is escaped text
    assert not re.search(r"(?<!\\)[<>\[\]*#]", outside)  # no tag, link, emphasis or heading of theirs
    assert "\u202e" not in text
    assert "\\#\\# Fixes" in text


def test_long_release_text_is_cut_at_a_line_and_says_so() -> None:
    body = "\n".join(f"- change {i}" for i in range(2000))
    text, cut = sanitise(body)
    assert cut and len(text) <= 2 * MAX_RELEASE_CHARS
    assert text.splitlines()[-1].startswith("\\- change ")


def _note(image: str = "ghcr.io/acme/api", body: str = "Fixed @bob's bug") -> ImageNotes:
    repo = SourceRepo("github", GITHUB, "acme/api")
    release = Release("v1.4.0", "API 1.4.0 <b>@everyone</b>", body, "ignored")
    return ImageNotes(image, "1.4.0", repo, "a" * 40, "b" * 40, release)


def test_the_section_links_the_changes_and_folds_the_release_in_details() -> None:
    lines = notes_lines([_note()], short_image)
    text = "\n".join(lines)
    assert f"https://github.com/acme/api/compare/{'a' * 40}...{'b' * 40}" in text
    assert "[release v1.4.0](https://github.com/acme/api/releases/tag/v1.4.0)" in text
    assert (
        "<details><summary>ghcr.io/acme/api v1.4.0: API 1.4.0 &lt;b&gt;&#64;everyone&lt;/b&gt;</summary>"
        in text
    )
    assert "Fixed `@bob`'s bug" in text
    assert text.rstrip().endswith("</details>")


def test_many_images_share_one_bounded_section() -> None:
    notes = [_note(f"ghcr.io/acme/api{i}", "x" * 5000) for i in range(40)]
    text = "\n".join(notes_lines(notes, short_image))
    assert len(text) < MAX_SECTION_CHARS + 40 * 400  # text stops at the budget; links stay
    assert text.count("[release v1.4.0]") == 40
    assert text.count("<details>") < 40


def test_the_pr_body_carries_the_section_only_when_there_are_notes() -> None:
    rows = [Row("apps/api.yaml", "ghcr.io/acme/api", "ghcr.io/acme/api:1.3.0", "ghcr.io/acme/api:1.4.0")]
    marker = Marker("github:acme/deploy:main:apps")
    plain = pr_body(BodyInput([intent(image="ghcr.io/acme/api", tag="1.4.0")], rows, marker))
    with_notes = pr_body(
        BodyInput([intent(image="ghcr.io/acme/api", tag="1.4.0")], rows, marker, notes=[_note()])
    )
    assert "Release notes" not in plain
    assert "**Release notes:**" in with_notes and "<details><summary>ghcr.io/acme/api v1.4.0" in with_notes
    assert with_notes.index("Release notes") < with_notes.index("<!-- manifest-bot")


def test_their_lists_quotes_and_headings_stay_text_and_plain_words_stay_readable() -> None:
    text, _ = sanitise("- item\n  + nested\n1. first\n> quote\n===\nlazy-loaded 1.4.0, it's fine")
    assert text.splitlines() == [
        "\\- item",
        "  \\+ nested",
        "1\\. first",
        "\\> quote",
        "\\===",
        "lazy-loaded 1.4.0, it's fine",
    ]

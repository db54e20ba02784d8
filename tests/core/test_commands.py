"""The chat-ops parser: what counts as a command, and what each line means."""

from __future__ import annotations

import pytest

from bot.core.chatops.commands import (
    Command,
    CommandKind,
    IgnoreScope,
    Unknown,
    is_bot_author,
    parse_comment,
)

BOT = "manifest-bot[bot]"
K = CommandKind


def parse(body: str, author: str = "alice", **kw: object):
    return parse_comment(body, author=author, bot_login=BOT, **kw)  # type: ignore[arg-type]


def only(body: str) -> Command | Unknown:
    items = parse(body).items
    assert len(items) == 1, items
    return items[0]


@pytest.mark.parametrize(
    ("line", "kind", "fields"),
    [
        ("help", K.HELP, {}),
        ("", K.HELP, {}),
        ("status", K.STATUS, {}),
        ("rebase", K.REBASE, {}),
        ("Rebase.", K.REBASE, {}),
        ("recreate", K.RECREATE, {}),
        ("retry", K.RETRY, {}),
        ("hold", K.HOLD, {}),
        ("unhold", K.UNHOLD, {}),
        ("merge", K.MERGE, {}),
        ("squash and merge", K.SQUASH_MERGE, {}),
        ("squash   AND merge", K.SQUASH_MERGE, {}),
        ("cancel merge", K.CANCEL_MERGE, {}),
        ("close", K.CLOSE, {}),
        ("reopen", K.REOPEN, {}),
        ("ignore this version", K.IGNORE, {"scope": IgnoreScope.VERSION}),
        ("ignore this major version", K.IGNORE, {"scope": IgnoreScope.MAJOR}),
        ("ignore this minor version", K.IGNORE, {"scope": IgnoreScope.MINOR}),
        ("ignore this patch version", K.IGNORE, {"scope": IgnoreScope.PATCH}),
        ("ignore this major", K.IGNORE, {"scope": IgnoreScope.MAJOR}),
        ("ignore this image", K.IGNORE, {"scope": IgnoreScope.IMAGE}),
        ("ignore this dependency", K.IGNORE, {"scope": IgnoreScope.IMAGE}),
        (
            "ignore this version of ghcr.io/acme/api",
            K.IGNORE,
            {"scope": IgnoreScope.VERSION, "image": "ghcr.io/acme/api"},
        ),
        (
            "ignore this image ghcr.io/acme/web",
            K.IGNORE,
            {"scope": IgnoreScope.IMAGE, "image": "ghcr.io/acme/web"},
        ),
        ("unignore", K.UNIGNORE, {"scope": IgnoreScope.ALL}),
        ("unignore version", K.UNIGNORE, {"scope": IgnoreScope.VERSION}),
        ("unignore image", K.UNIGNORE, {"scope": IgnoreScope.IMAGE}),
        ("unignore image of nginx", K.UNIGNORE, {"scope": IgnoreScope.IMAGE, "image": "nginx"}),
        ("pin 1.4.2", K.PIN, {"tag": "1.4.2"}),
        ("pin v1.4.2-RC1", K.PIN, {"tag": "v1.4.2-RC1"}),
        ("pin ghcr.io/acme/api:2.0.0", K.PIN, {"tag": "2.0.0", "image": "ghcr.io/acme/api"}),
        ("pin localhost:5000/app:7", K.PIN, {"tag": "7", "image": "localhost:5000/app"}),
        ("pin podinfo 6.5.1", K.PIN, {"tag": "6.5.1", "image": "podinfo"}),  # a chart, by its name
        (
            "pin oci://ghcr.io/acme/charts/web 1.2.0",
            K.PIN,
            {"tag": "1.2.0", "image": "oci://ghcr.io/acme/charts/web"},
        ),
        ("unpin", K.UNPIN, {}),
        ("unpin api", K.UNPIN, {"image": "api"}),  # as docs/chatops.md says: an optional image
        ("unpin of ghcr.io/acme/api", K.UNPIN, {"image": "ghcr.io/acme/api"}),
        ("promote", K.PROMOTE, {"environment": None}),
        ("promote prod", K.PROMOTE, {"environment": "prod"}),
        ("promote to Staging", K.PROMOTE, {"environment": "Staging"}),
        ("rollback", K.ROLLBACK, {"tag": None}),
        ("rollback 1.2.0", K.ROLLBACK, {"tag": "1.2.0"}),
        ("ROLLBACK 1.2.0!", K.ROLLBACK, {"tag": "1.2.0"}),
        ("rollback podinfo 6.5.0", K.ROLLBACK, {"tag": "6.5.0", "image": "podinfo"}),
    ],
)
def test_each_command_line_parses_to_its_kind_and_arguments(
    line: str, kind: CommandKind, fields: dict
) -> None:
    text = f"/manifest-bot {line}".rstrip()
    item = only(text)
    assert isinstance(item, Command), item
    assert item.kind is kind
    assert item.text == text
    for name, value in fields.items():
        assert getattr(item, name) == value, name


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("frobnicate", "unknown command `frobnicate`"),
        ("merge now please", "unknown command `merge now please`"),
        ("pin", "say which tag to pin"),
        ("pin 1.0 2.0", "pin takes one tag"),
        ("rollback to 1.2.0", "rollback takes one tag"),
        ("pin -bad", "`-bad` is not a valid tag"),
        ("rollback ../etc", "`../etc` is not a valid tag"),
        ("ignore", "say what to ignore"),
        ("ignore this feeling", "cannot ignore `feeling`"),
        ("ignore this version a b", "`a b` is not an image name"),
        ("unignore everything", "use `unignore`, `unignore version` or `unignore image`"),
        ("promote to", "say which environment"),
        ("promote to prod now", "`prod now` is not an environment name"),
    ],
)
def test_malformed_commands_become_unknown_with_a_reason(line: str, reason: str) -> None:
    item = only(f"/manifest-bot {line}")
    assert isinstance(item, Unknown)
    assert reason in item.reason


def test_tags_keep_their_case_and_keywords_do_not_matter() -> None:
    item = only("/MANIFEST-BOT PIN V2.0.0-Beta")
    assert isinstance(item, Command)
    assert (item.kind, item.tag) == (K.PIN, "V2.0.0-Beta")


@pytest.mark.parametrize(
    "address", ["/manifest-bot", "@manifest-bot", "@manifest-bot[bot]", "@Manifest-Bot", "@manifest-bot:"]
)
def test_prefix_and_mentions_both_address_the_bot(address: str) -> None:
    item = only(f"{address} rebase")
    assert isinstance(item, Command) and item.kind is K.REBASE


def test_configured_prefix_replaces_the_default() -> None:
    parsed = parse_comment("/bump hold\n/manifest-bot merge", author="a", prefix="/bump", bot_login=None)
    assert [c.kind for c in parsed.commands] == [K.HOLD]


@pytest.mark.parametrize(
    "body",
    [
        "please /manifest-bot merge",
        "/manifest-botmerge",
        "/manifest-bots merge",
        "@someone-else merge",
        "the bot said `/manifest-bot merge` would work",
    ],
)
def test_lines_that_do_not_start_with_the_prefix_are_not_commands(body: str) -> None:
    assert parse(body).items == ()


@pytest.mark.parametrize(
    "body",
    [
        "> /manifest-bot merge",
        "> > /manifest-bot merge",
        "   > /manifest-bot merge",
        "```\n/manifest-bot merge\n```",
        "~~~text\n/manifest-bot merge\n~~~",
        "````\n```\n/manifest-bot merge\n```\n````",
        "Try this:\n\n    /manifest-bot merge",
        "Try this:\n\n\t/manifest-bot merge",
        "<!-- /manifest-bot merge -->",
        "<!--\n/manifest-bot merge\n-->",
    ],
)
def test_quoted_code_and_html_comment_lines_are_never_commands(body: str) -> None:
    assert parse(body).items == ()


def test_a_quote_reply_runs_only_the_new_command() -> None:
    body = "> @alice wrote:\n> /manifest-bot merge\n\nNot yet, first:\n/manifest-bot hold\n"
    parsed = parse(body)
    assert [(c.kind, c.line) for c in parsed.commands] == [(K.HOLD, 5)]


def test_several_commands_run_in_the_order_written_with_unknowns_kept_in_place() -> None:
    body = (
        "Thanks!\r\n"
        "/manifest-bot ignore this major version\r\n"
        "```\r\n/manifest-bot close\r\n```\r\n"
        "@manifest-bot wat\r\n"
        "/manifest-bot pin 1.2.3\r\n"
        "/manifest-bot merge\r\n"
    )
    items = parse(body).items
    assert [type(i).__name__ for i in items] == ["Command", "Unknown", "Command", "Command"]
    assert [getattr(i, "kind", None) for i in items] == [K.IGNORE, None, K.PIN, K.MERGE]
    assert [i.line for i in items] == [2, 6, 7, 8]


def test_a_fence_left_open_hides_the_rest_of_the_comment() -> None:
    assert parse("```\n/manifest-bot merge").items == ()


def test_an_indented_line_continuing_a_paragraph_is_prose() -> None:
    # CommonMark: an indented code block cannot interrupt a paragraph
    item = only("Please\n    /manifest-bot rebase")
    assert isinstance(item, Command) and item.kind is K.REBASE


@pytest.mark.parametrize(
    ("author", "is_bot"),
    [
        (BOT, False),
        ("manifest-bot", False),
        ("dependabot[bot]", False),
        ("renovate[bot]", False),
        ("project_42_bot_abc", True),  # GitLab project access token: the payload flags it
    ],
)
def test_comments_by_the_bot_or_other_bots_are_ignored(author: str, is_bot: bool) -> None:
    parsed = parse("/manifest-bot merge", author=author, author_is_bot=is_bot)
    assert parsed.items == ()
    assert parsed.ignored == f"comment by bot account {author}"


def test_people_are_not_mistaken_for_bots() -> None:
    assert not is_bot_author("bob", BOT)
    assert not is_bot_author("robot-fan", BOT)
    assert is_bot_author("Manifest-Bot", BOT)


@pytest.mark.parametrize(
    "body",
    [
        # an HTML comment opened mid-line hides the lines up to its end (issue #12)
        "Looks good <!-- hidden\n/manifest-bot merge\n--> to me",
        "ok <!--\n\n-->\n",
        # a quote continues lazily onto the next line: that line is quoted too
        "> I said:\n/manifest-bot merge",
        "> > deep\n/manifest-bot merge",
        # <pre> and friends, as a block or opened inside a paragraph
        "<pre>\n/manifest-bot merge\n</pre>",
        "Output: <pre>\n/manifest-bot merge\n</pre>",
        "<PRE class='x'>\n\n/manifest-bot merge\n\n</PRE>",
        "<code>\n/manifest-bot merge\n</code>",
        "see <code>\n/manifest-bot merge\n</code>",
        "<blockquote>\n\n/manifest-bot merge\n\n</blockquote>",
        "<textarea>\n/manifest-bot merge\n</textarea>",
        # a code span running over lines
        "run `this\n/manifest-bot merge\n` later",
        # list items and headings are not command lines
        "- /manifest-bot merge",
        "1. /manifest-bot merge",
        "# /manifest-bot merge",
        "[/manifest-bot merge](https://example.com)",
        # an element left open hides the rest
        "<pre>\nnotes\n\n/manifest-bot merge",
    ],
)
def test_commands_hidden_by_markdown_or_html_are_never_run(body: str) -> None:
    assert parse(body).items == ()


def test_a_command_after_a_closed_hiding_element_or_comment_still_runs() -> None:
    body = "<pre>\n/manifest-bot close\n</pre>\n\nok <!-- /manifest-bot merge -->\n\n/manifest-bot hold\n"
    parsed = parse(body)
    assert [(c.kind, c.line) for c in parsed.commands] == [(K.HOLD, 7)]


def test_a_comment_longer_than_githubs_limit_is_not_read_for_commands() -> None:
    body = "/manifest-bot merge\n" + "[" * 70_000
    parsed = parse(body)
    assert parsed.items == ()
    assert parsed.ignored == "comment longer than 65536 characters"
    assert parse("/manifest-bot merge\n" + "x" * 60_000).commands[0].kind is K.MERGE

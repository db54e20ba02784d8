"""The second round's chat-ops attacks through the service (signed comment deliveries through the
Flask app, queued on Redis, run by the bot's jobs against a local git forge under the vendor's
name): one comment cannot multiply work, nor can many comments on one PR (attack 6), and a
reply renders nothing a person wrote (attack 7)."""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

from bot.core.chatops.fold import MAX_COMMANDS
from bot.store.churn import MAX_CHURN_COMMENTS
from tests.integration.test_chatops_attacks import world  # noqa: F401 - the fixture, both vendors
from tests.integration.test_chatops_e2e import Chat
from tests.services.chatops_fixture import REPO, ChatWorld

HOSTILE = (
    "/manifest-bot frobnicate `x` @example/admins <img src=https://evil.test/x.png> [a](https://evil.test)"
)


def test_a_comment_flipping_pin_and_unpin_opens_and_closes_no_pr(world: ChatWorld) -> None:  # noqa: F811
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    # pin to the base's version (the PR would close), unpin (a PR would open), thirty times over
    chat.say(number, "\n".join(["/manifest-bot pin 1.0.0", "/manifest-bot unpin"] * 30))
    assert [(pr.number, pr.state) for pr in world.forge.list_prs(REPO)] == [(number, "open")]
    assert world.tag_on(world.open_pr("dev").head_branch, "dev") == "1.1.0"
    assert "59 command(s) not run: a later line of this comment undoes them." in world.replies(number)[-1]


def test_one_comment_runs_at_most_the_limit_and_says_so(world: ChatWorld) -> None:  # noqa: F811
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    chat.say(number, "\n".join(f"/manifest-bot frobnicate {i}" for i in range(1000)))
    (reply,) = world.replies(number)
    assert reply.count("unknown command") == MAX_COMMANDS
    assert f"{1000 - MAX_COMMANDS} more line(s) not run: one comment runs at most {MAX_COMMANDS}" in reply


def test_a_reply_renders_no_mention_image_link_or_html_from_the_comment(world: ChatWorld) -> None:  # noqa: F811
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    chat.say(number, HOSTILE)
    (reply,) = world.replies(number)
    html = MarkdownIt("commonmark").render(reply)
    outside = re.sub(r"<code>.*?</code>", "", html, flags=re.S)
    assert "<img" not in html and "<a " not in html
    assert "@example" not in outside and "evil.test" not in outside
    assert "@example/admins" in html  # it is echoed, inside a code span


def test_a_prs_open_close_churn_is_rate_limited_across_comments(world: ChatWorld) -> None:  # noqa: F811
    chat = Chat(world)
    chat.push("1.1.0")
    number = world.open_pr("dev").number
    for i in range(MAX_CHURN_COMMENTS):  # each comment closes (pin to the base's version) or reopens
        chat.say(number, "/manifest-bot pin 1.0.0" if i % 2 == 0 else "/manifest-bot unpin")
    opened = len(world.forge.list_prs(REPO))
    open_now = world.open_pr("dev").number
    cid = chat.say(number, "/manifest-bot pin 1.0.0")  # one more, within the hour

    assert len(world.forge.list_prs(REPO)) == opened  # nothing opened
    assert world.open_pr("dev").number == open_now  # nor closed
    assert world.replies(number)[-1].startswith(
        "❌ `/manifest-bot pin 1.0.0`: refused: this PR has had too many comments that open or close it"
    )
    assert world.reactions(number, cid) == ["eyes", "confused"]
    chat.say(number, "/manifest-bot status")  # commands that cannot churn still run
    assert world.replies(number)[-1].startswith("✅ `/manifest-bot status`")

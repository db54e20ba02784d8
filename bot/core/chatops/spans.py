"""Text a person wrote, made inert for a reply (pure): one Markdown code span.

GitHub and GitLab render a reply as Markdown, so a comment line echoed as it was written could
mention a team (``@example/admins``), embed an image or a link, or carry HTML, all in the bot's
name. Inside a code span none of that renders. A backtick cannot be escaped inside a span with a
backslash (CommonMark), so the span is fenced with one backtick more than the longest run in the
text and padded with spaces when the text starts or ends with one; newlines become spaces (a span
is one line here); over ``MAX_ECHO_CHARS`` characters the text is cut with an ellipsis.
"""

from __future__ import annotations

import re

#: how much of one echoed input a reply repeats
MAX_ECHO_CHARS = 200
_TICKS = re.compile(r"`+")


def code(text: str, limit: int = MAX_ECHO_CHARS) -> str:
    """``text`` as a code span no Markdown inside it can leave."""
    text = " ".join(text.split("\n")).replace("\r", " ")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    fence = "`" * (max((len(m) for m in _TICKS.findall(text)), default=0) + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"

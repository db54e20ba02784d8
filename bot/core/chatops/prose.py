"""Which lines of a PR comment are prose a reader sees (pure): the only place commands may live.

GitHub and GitLab render comments as CommonMark (plus extensions), so the comment is parsed by a
CommonMark parser (markdown-it-py) rather than judged line by line: what a person sees rendered as
a plain paragraph is prose; everything else is not, however it was written:

- quotes, including a line that continues a quote lazily (``> a`` then ``b`` — ``b`` is quoted);
- list items, headings and tables (a command is a paragraph line of its own);
- fenced and indented code, and code spans, even when a span runs over several lines;
- HTML comments anywhere (at the start of a line or in the middle of one, over several lines);
- raw HTML blocks, and the content of ``<pre>``, ``<code>``, ``<blockquote>``, ``<textarea>``,
  ``<script>``, ``<style>`` and similar elements wherever they open, until they close (an element
  left open hides the rest of the comment).

A line of a paragraph is rebuilt from what renders: text as shown, code spans with their
backticks, HTML tags as written, HTML comments dropped, hidden text dropped. Only a line whose
rendered text *starts* with the bot's address can become a command.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token

#: elements whose content is code, a quote, or not shown as prose at all
_HIDING = "pre|code|kbd|samp|tt|var|blockquote|q|textarea|script|style|template|noscript|xmp|plaintext"
_TAG_RE = re.compile(rf"<(/?)(?:{_HIDING})(?=[\s/>])[^>]*?(/?)>", re.IGNORECASE)
#: an HTML comment, or one left open (it hides everything after it)
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_NESTING = {
    "blockquote_open": 1,
    "blockquote_close": -1,
    "bullet_list_open": 1,
    "bullet_list_close": -1,
    "ordered_list_open": 1,
    "ordered_list_close": -1,
}


@functools.cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark")


def hiding_depth(html: str, depth: int = 0) -> int:
    """``depth`` after the hiding elements ``html`` opens and closes (comments removed first)."""
    for match in _TAG_RE.finditer(_COMMENT_RE.sub("", html)):
        if match[2]:  # <code/>: opens nothing
            continue
        depth = max(0, depth - 1) if match[1] else depth + 1
    return depth


def prose_lines(body: str) -> Iterator[tuple[int, str]]:
    """(1-based line number, rendered text) of every line of a top-level paragraph."""
    tokens = _parser().parse(body.replace("\r\n", "\n").replace("\r", "\n"))
    nesting = hidden = 0
    for index, token in enumerate(tokens):
        nesting += _NESTING.get(token.type, 0)
        if token.type == "html_block":
            hidden = hiding_depth(token.content, hidden)
        elif token.type == "inline" and tokens[index - 1].type == "paragraph_open":
            start = (token.map or (0, 0))[0] + 1
            lines, hidden = _rendered_lines(token.children or [], hidden)
            if nesting == 0:
                for offset, text in lines:
                    if text.strip():
                        yield start + offset, text.strip()


def _rendered_lines(children: Sequence[Token], hidden: int) -> tuple[list[tuple[int, str]], int]:
    """The paragraph's lines as rendered ((line offset, text)), and the hiding depth after it."""
    lines: list[tuple[int, str]] = []
    offset, current = 0, ""
    for child in children:
        if child.type in ("softbreak", "hardbreak"):
            lines.append((offset, current))
            offset, current = offset + 1, ""
        elif child.type == "html_inline":
            offset += child.content.count("\n")  # a comment over several lines hides them all
            if not child.content.startswith("<!--"):
                current += child.content if not hidden else ""
            hidden = hiding_depth(child.content, hidden)
        elif not hidden:
            current += _shown(child)
    lines.append((offset, current))
    return lines, hidden


def _shown(token: Token) -> str:
    """How an inline token starts a line when rendered (enough to judge the line's first word)."""
    if token.type == "text":
        return token.content
    if token.type == "code_inline":
        return f"{token.markup}{token.content}{token.markup}"
    if token.type == "image":
        return f"![{token.content}]"
    if token.type == "link_open":
        return "<" if token.markup == "autolink" else "["
    if token.type == "link_close":
        return ">" if token.markup == "autolink" else "]"
    return token.markup

"""Property: a random bump of a generated manifest re-parses, changes data only at the target and
bytes only inside the target's span."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.manifests import Edit, Selector, edit, scan
from bot.core.manifests.tree import parse_path

NAMES = st.sampled_from(["nginx", "acme/web", "ghcr.io/acme/api", "localhost:5000/app", "quay.io/a/b-c"])
TAGS = st.one_of(
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,12}", fullmatch=True),
    st.sampled_from(
        ["1.0", "4.0", "8031783", "1e3", "true", "on", "null", "0o17", "0x1F", "1_000", "2024-01-01"]
    ),
)
QUOTES = st.sampled_from(["", "'", '"'])


@st.composite
def container_doc(draw: st.DrawFn) -> str:
    offset = draw(st.sampled_from(["", "  "]))
    lines = [
        "apiVersion: apps/v1",
        "kind: Deployment",
        "spec:",
        "  template:",
        "    spec:",
        "      containers:",
    ]
    for i in range(draw(st.integers(1, 3))):
        q = draw(QUOTES)
        image = f"{draw(NAMES)}:{draw(TAGS)}" if q or draw(st.booleans()) else draw(NAMES)
        comment = draw(st.sampled_from(["", "  # pinned", ' # {"$imagepolicy": "ns:x"}']))
        lines.append(f"      {offset}- name: c{i}")
        lines.append(f"      {offset}  image: {q}{image}{q}{comment}")
        if draw(st.booleans()):
            lines.append("")
    return "\n".join(lines) + "\n"


@st.composite
def helm_doc(draw: st.DrawFn) -> str:
    q = draw(QUOTES)
    tag = draw(TAGS)
    tag_line = f"  tag: {q}{tag}{q}" if q else f"  tag: {tag}"
    if not q and yaml.safe_load(f"x: {tag}")["x"] is None:
        tag_line = f'  tag: "{tag}"'
    return (
        "\n".join(
            ["replicaCount: 1", "image:", f"  repository: {draw(NAMES)}", tag_line, "  pullPolicy: Always"]
        )
        + "\n"
    )


@st.composite
def manifest(draw: st.DrawFn) -> str:
    docs = draw(st.lists(st.one_of(container_doc(), helm_doc()), min_size=1, max_size=3))
    sep = draw(st.sampled_from(["---\n", "---\n# next\n", "\n---\n"]))
    text = sep.join(docs)
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    return text


def _set(data: Any, path: tuple, value: str) -> None:
    for seg in path[:-1]:
        data = data[seg]
    data[path[-1]] = value


@settings(max_examples=100, deadline=None)
@given(text=manifest(), choice=st.integers(0, 100), new_tag=TAGS)
def test_random_bump_changes_only_the_target(text: str, choice: int, new_tag: str) -> None:
    refs = scan(text)
    ref = refs[choice % len(refs)]
    result = edit(text, "gen.yaml", [Edit(Selector(path=ref.path, doc=ref.doc), tag=new_tag)])
    assert result.matched == 1
    before = list(yaml.safe_load_all(text))
    after = list(yaml.safe_load_all(result.text))
    path = parse_path(ref.path)
    if ref.kind == "helm":
        path, span = (*path, "tag"), ref.spans[1]
        new_value = new_tag
    else:
        span = ref.spans[0]
        new_value = f"{ref.image}:{new_tag}"
    if result.changed:  # a plain `tag: 0` bumped to "0" is already at that value: left alone
        _set(before[ref.doc], path, new_value)
    else:
        assert result.text == text
    assert after == before  # data differs only at the target (and the target holds the new string)
    start, end = span
    tail = len(text) - end
    assert result.text[:start] == text[:start]
    assert result.text[len(result.text) - tail :] == text[end:]
    if result.changed:
        (change,) = result.changes
        assert change.new == new_value

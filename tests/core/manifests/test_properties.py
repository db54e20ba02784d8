"""Property: a random bump of a generated manifest re-parses, changes data only at the target and
bytes only inside the target's span — whatever line breaks the file uses (``\\n``, ``\\r\\n``, a lone
``\\r``, and U+2028 / U+2029 / NEL inside earlier values), whichever of the reference's paths
selects it (the reference, its name, its tag) and whether tags carry a digest (``1.2@sha256:…``)."""

from __future__ import annotations

import re
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.manifests import Edit, Reference, Selector, edit, scan
from bot.core.manifests.found import placeholder
from bot.core.manifests.tree import parse_path

NAMES = st.sampled_from(["nginx", "acme/web", "ghcr.io/acme/api", "localhost:5000/app", "quay.io/a/b-c"])
TAGS = st.one_of(
    st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,12}", fullmatch=True),
    st.sampled_from(
        [
            *("1.0", "4.0", "8031783", "1e3", "true", "on", "null", "0o17", "0x1F", "1_000", "2024-01-01"),
            *("y", "N", "yes", "Off"),  # YAML 1.1 booleans in any case
        ]
    ),
)
#: a value written in a file is never a placeholder (``CONTAINER_TAG``): those are left alone
WRITTEN_TAGS = TAGS.filter(lambda t: not placeholder(t))
DIGESTS = st.sampled_from(["sha256:" + c * 64 for c in "0123456789abcdef"])
QUOTES = st.sampled_from(["", "'", '"'])
#: characters libyaml counts as line breaks inside a quoted value
BREAKS = st.sampled_from(["\u2028", "\u2029", "\x85"])


@st.composite
def version(draw: st.DrawFn) -> str:
    """A tag, or a tag with a digest."""
    tag = draw(WRITTEN_TAGS)
    return f"{tag}@{draw(DIGESTS)}" if draw(st.booleans()) else tag


@st.composite
def note_line(draw: st.DrawFn, indent: str) -> list[str]:
    """Maybe a quoted value with a line-break character in it, before the next reference."""
    if not draw(st.booleans()):
        return []
    return [f'{indent}note: "before{draw(BREAKS)}after"']


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
        image = f"{draw(NAMES)}:{draw(version())}" if q or draw(st.booleans()) else draw(NAMES)
        comment = draw(st.sampled_from(["", "  # pinned", f' # {{"$imagepolicy": "ns:c{i}"}}']))
        lines.append(f"      {offset}- name: c{i}")
        lines += draw(note_line(f"      {offset}  "))
        lines.append(f"      {offset}  image: {q}{image}{q}{comment}")
        if draw(st.booleans()):
            lines.append("")
    return "\n".join(lines) + "\n"


def _scalar(draw: st.DrawFn, value: str) -> str:
    q = draw(QUOTES)
    if not q and not isinstance(yaml.safe_load(f"x: {value}")["x"], str | int | float):
        q = '"'  # a plain `null`, `true`, date … would not be a tag-ish value to start from
    return f"{q}{value}{q}"


@st.composite
def helm_doc(draw: st.DrawFn) -> str:
    lines = ["replicaCount: 1", *draw(note_line("")), "image:", f"  repository: {draw(NAMES)}"]
    lines.append(f"  tag: {_scalar(draw, draw(version()))}")
    lines.append("  pullPolicy: Always")
    return "\n".join(lines) + "\n"


@st.composite
def kustomize_doc(draw: st.DrawFn) -> str:
    lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization", "images:"]
    for i in range(draw(st.integers(1, 2))):
        tag = f"{draw(WRITTEN_TAGS)}@{draw(DIGESTS)}"  # combined: a digest edit stays in newTag
        lines.append(f"  - name: k{i}/{draw(st.sampled_from(['web', 'api']))}")
        lines.append(f"    newTag: {_scalar(draw, tag)}")
    return "\n".join(lines) + "\n"


@st.composite
def manifest(draw: st.DrawFn) -> str:
    docs = draw(st.lists(st.one_of(container_doc(), helm_doc(), kustomize_doc()), min_size=1, max_size=3))
    sep = draw(st.sampled_from(["---\n", "---\n# next\n", "\n---\n"]))
    text = sep.join(docs)
    text = text.replace("\n", draw(st.sampled_from(["\n", "\r\n", "\r"])))
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    return text


def _set(data: Any, path: tuple, value: str) -> None:
    for seg in path[:-1]:
        data = data[seg]
    data[path[-1]] = value


def _expected(ref: Reference, tag: str | None, digest: str | None) -> tuple[str | None, str | None]:
    """The documented rules: a new tag drops a digest pinned to the old one; a digest alone keeps the tag."""
    if digest is not None:
        return (tag if tag is not None else ref.tag), digest
    if tag is not None and tag != ref.tag:
        return tag, None
    return ref.tag, ref.digest


def _slot(ref: Reference) -> tuple[tuple, int, bool]:
    """(path of the scalar that changes, index of its span, does it hold the whole reference)."""
    path = parse_path(ref.path)
    if ref.kind == "helm":
        return (*path, "tag"), 1, False
    if ref.kind == "kustomize":
        return (*path, "newTag"), 1, False
    return path, 0, True


def _selector(ref: Reference, how: int) -> Selector:
    """The reference's own path, or (for split references) the path of its name or of its tag."""
    path = parse_path(ref.path)
    name_key = {"helm": "repository", "kustomize": "name"}.get(ref.kind)
    if name_key is None or how == 0:
        return Selector(path=ref.path, doc=ref.doc)
    key = name_key if how == 1 else ("tag" if ref.kind == "helm" else "newTag")
    return Selector(path=_fmt((*path, key)), doc=ref.doc)


def _fmt(path: tuple) -> str:
    from bot.core.manifests.tree import format_path

    return format_path(path)


def check_bump(text: str, ref: Reference, selector: Selector, tag: str | None, digest: str | None) -> None:
    result = edit(text, "gen.yaml", [Edit(selector, tag=tag, digest=digest)])
    assert result.matched == 1
    before = list(yaml.safe_load_all(text))
    after = list(yaml.safe_load_all(result.text))
    path, span_index, whole = _slot(ref)
    new_tag, new_digest = _expected(ref, tag, digest)
    version = (new_tag or "") + (f"@{new_digest}" if new_digest else "")
    if whole:
        new_value = ref.image + (f":{new_tag}" if new_tag else "") + (f"@{new_digest}" if new_digest else "")
    else:
        new_value = version
    if result.changed:  # a plain `tag: 0` bumped to "0" is already at that value: left alone
        _set(before[ref.doc], path, new_value)
    else:
        assert result.text == text
    assert after == before  # data differs only at the target (and the target holds the new string)
    start, end = ref.spans[span_index]
    tail = len(text) - end
    assert result.text[:start] == text[:start]
    assert result.text[len(result.text) - tail :] == text[end:]
    again = {(r.doc, r.path): r for r in scan(result.text)}[(ref.doc, ref.path)]
    assert (again.image, again.tag, again.digest) == (ref.image, new_tag, new_digest)


@settings(max_examples=150, deadline=None)
@given(
    text=manifest(),
    choice=st.integers(0, 100),
    how=st.integers(0, 2),
    what=st.sampled_from(["tag", "digest", "both"]),
    new_tag=TAGS,
    new_digest=DIGESTS,
)
def test_random_bump_changes_only_the_target(  # noqa: PLR0917 - hypothesis passes each draw
    text: str, choice: int, how: int, what: str, new_tag: str, new_digest: str
) -> None:
    refs = scan(text)
    ref = refs[choice % len(refs)]
    if ref.kind == "helm" and ref.digest is None and what != "tag":
        what = "tag"  # a digest for `tag: 1.0` goes into a new `digest:` key: not a splice in place
    tag = new_tag if what in ("tag", "both") else None
    digest = new_digest if what in ("digest", "both") else None
    check_bump(text, ref, _selector(ref, how), tag, digest)


_MARKER_ON_LINE = re.compile(r'[^\r\n\x85\u2028\u2029]*?# \{"\$imagepolicy": "(ns:c\d)"\}')


def written_marker(text: str, ref: Reference) -> str | None:
    """The marker written after the reference on its physical line (the generator's, not the engine's)."""
    m = _MARKER_ON_LINE.match(text, ref.spans[0][1])
    return m[1] if m else None


@settings(max_examples=100, deadline=None)
@given(text=manifest(), choice=st.integers(0, 100), new_tag=TAGS)
def test_marker_selects_the_value_on_its_own_line(text: str, choice: int, new_tag: str) -> None:
    refs = scan(text)
    assert [r.marker for r in refs] == [written_marker(text, r) for r in refs]
    marked = [r for r in refs if r.marker]
    if not marked:
        return
    ref = marked[choice % len(marked)]
    if sum(r.marker == ref.marker for r in marked) > 1:
        return  # one marker in several documents: every one of them is selected
    check_bump(text, ref, Selector(marker=ref.marker), new_tag, None)

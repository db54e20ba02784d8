"""The PR body's release notes (pure): where an image's source label points, which git tags name
its version, and the sanitised, bounded Markdown that shows them.

An image whose config says where it was built from (``org.opencontainers.image.source``,
``.revision``, ``.version``: ``bot.services.release_notes`` reads them and the release) gets:

- a compare link between the old and the new image's revisions (both labels known, and different);
- the release of the new version, looked up by tag (``tag_candidates``), folded in ``<details>``.

**Sanitised.** Release text is someone else's Markdown, shown in our PR as literal text: every
character Markdown gives a meaning is backslash-escaped (no HTML, links, images, headings, lists
or tables of theirs render; a ``</details>`` cannot close ours), control and bidirectional-override
characters are dropped, and each ``@mention``, issue reference (``#12``, ``org/repo#12``,
``GH-12``) and URL is put in a code span, where GitHub and GitLab neither notify anyone nor
cross-reference anything.

**Bounded.** A release's text is cut to ``MAX_RELEASE_CHARS`` (at a line end when it can be) and
says so; the section stops adding release text after ``MAX_SECTION_CHARS`` (the rest get their
links only), so a PR of many images stays far under the forges' body limits (GitHub: 65,536).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlsplit

from bot.core.ports import Release

Kind = Literal["github", "gitlab"]
MAX_RELEASE_CHARS = 3000
MAX_SECTION_CHARS = 20_000
MAX_SOURCE_CHARS = 300
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
#: a git revision as a label gives it: a sha, or a ref name without anything that is not a ref
_REVISION = re.compile(r"[0-9a-f]{7,64}|[A-Za-z0-9_][A-Za-z0-9_./-]{0,99}")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,127}")
_DROPPED = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_TOKEN = re.compile(
    r"(?P<url>\b(?:https?|ftp)://[^\s`<>]+|\bwww\.[^\s`<>]+)"
    r"|(?P<mention>(?<![A-Za-z0-9_`])@[A-Za-z0-9](?:[A-Za-z0-9_/.-]{0,80}[A-Za-z0-9])?)"
    r"|(?P<ref>(?<![A-Za-z0-9_/&`])(?:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)?#[0-9]+\b|\bGH-[0-9]+\b)"
)
#: what Markdown (GFM) makes something of anywhere in a line: emphasis, code, links, HTML,
#: entities, tables, strikethrough, math, mentions
_ANYWHERE = re.compile(r"([\\`*_{}\[\]#|<>~&$@])")
#: and at the start of a line: lists, quotes, setext headings and rules, ordered lists
_LINE_START = re.compile(r"^(\s*)([-+=>])|^(\s*\d{1,9})([.)])")


@dataclass(frozen=True, slots=True)
class SourceRepo:
    """An application repository an image's source label names, on a forge the bot reads."""

    kind: Kind
    origin: str  # the forge's web root: https://github.com
    path: str  # acme/api, or a GitLab group/subgroup/project

    @property
    def web(self) -> str:
        return f"{self.origin}/{self.path}"

    def compare_url(self, old: str, new: str) -> str:
        sep = "/-/" if self.kind == "gitlab" else "/"
        return f"{self.web}{sep}compare/{quote(old, safe='/')}...{quote(new, safe='/')}"

    def release_url(self, tag: str) -> str:
        if self.kind == "gitlab":
            return f"{self.web}/-/releases/{quote(tag, safe='')}"
        return f"{self.web}/releases/tag/{quote(tag, safe='')}"


@dataclass(frozen=True, slots=True)
class ImageNotes:
    """What the PR body says about where one changed image comes from."""

    image: str
    version: str  # the new tag
    repo: SourceRepo
    old_revision: str | None = None
    new_revision: str | None = None
    release: Release | None = None


def source_repo(url: str, kind: Kind, origin: str) -> SourceRepo | None:
    """The repository ``url`` (a source label) names on the forge at ``origin`` (its web root);
    None when it is on another origin or is no repository path. ``https://host/o/r(.git)``, with
    a trailing ``/tree/…`` (GitHub) or ``/-/…`` (GitLab) dropped."""
    url = url.strip()
    if len(url) > MAX_SOURCE_CHARS:
        return None
    if url.startswith("git+"):
        url = url[4:]
    parts, root = urlsplit(url), urlsplit(origin)
    same = (parts.scheme.lower(), parts.netloc.lower()) == (root.scheme.lower(), root.netloc.lower())
    prefix = root.path.rstrip("/")
    if not same or parts.query or not parts.path.startswith(prefix + "/"):
        return None
    path = parts.path[len(prefix) :].strip("/").removesuffix(".git")
    segments = path.split("/-/", 1)[0].split("/")
    if kind == "github":
        segments = segments[:2]
    if len(segments) < 2 or not all(_SEGMENT.fullmatch(s) for s in segments):
        return None
    return SourceRepo(kind, origin.rstrip("/"), "/".join(segments))


def revision(label: str | None) -> str | None:
    """A revision label fit for a compare link, else None."""
    value = (label or "").strip()
    return value if _REVISION.fullmatch(value) and ".." not in value else None


def tag_candidates(version: str) -> tuple[str, ...]:
    """The git tags that may name ``version``, most likely first: ``1.4.0`` → ``1.4.0``, ``v1.4.0``;
    ``v1.4.0`` → ``v1.4.0``, ``1.4.0``. Two at most (two requests at most per version)."""
    version = version.strip()
    if not _TAG.fullmatch(version):
        return ()
    if version[:1] in ("v", "V") and version[1:2].isdigit():
        return (version, version[1:])
    if version[:1].isdigit():
        return (version, f"v{version}")
    return (version,)  # a name like "stable": no v-prefixed twin


# --- sanitising ---------------------------------------------------------------------------------
def _code_span(text: str) -> str:
    return f"`{text}`"


def _escape(text: str) -> str:
    return _ANYWHERE.sub(r"\\\1", text)


def _plain(text: str) -> str:
    """A tag, revision or repository path (validated: letters, digits, ``._/-+``) as link text."""
    return re.sub(r"([_*+\\])", r"\\\1", text)


def sanitise_line(line: str) -> str:
    """One line of someone else's Markdown as literal text (see the module docstring)."""
    out, at = [], 0
    for match in _TOKEN.finditer(line):
        out.append(_escape(line[at : match.start()]))
        out.append(_code_span(match.group(0)))
        at = match.end()
    out.append(_escape(line[at:]))
    text = "".join(out)
    return _LINE_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[2] else f"{m[3]}\\{m[4]}", text, count=1)


def sanitise(text: str, limit: int = MAX_RELEASE_CHARS) -> tuple[str, bool]:
    """(the text as literal Markdown lines, whether it was cut to ``limit`` characters first)."""
    clean = _DROPPED.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    "))
    cut = len(clean) > limit
    if cut:
        head = clean[:limit]
        end = head.rfind("\n")
        clean = head[:end] if end >= limit // 2 else head
    lines = [sanitise_line(line.rstrip()) for line in clean.strip("\n").split("\n")]
    squeezed: list[str] = []
    for line in lines:  # one blank line at most between paragraphs
        if line or (squeezed and squeezed[-1]):
            squeezed.append(line)
    return "\n".join(squeezed).strip("\n"), cut


def _summary_text(text: str) -> str:
    """Text inside ``<summary>``: HTML, where ``@`` and ``#`` are entities too (nothing mentions)."""
    return html.escape(_DROPPED.sub("", text), quote=True).replace("#", "&#35;").replace("@", "&#64;")


# --- rendering ----------------------------------------------------------------------------------
def _link_line(note: ImageNotes, shown: str) -> str:
    repo = note.repo
    parts = [f"[{_plain(repo.path)}]({repo.web})"]
    old, new = note.old_revision, note.new_revision
    if old and new and old != new:
        parts.append(f"[changes {_plain(old[:12])}…{_plain(new[:12])}]({repo.compare_url(old, new)})")
    if note.release is not None:
        parts.append(f"[release {_plain(note.release.tag)}]({repo.release_url(note.release.tag)})")
    return f"- {_code_span(shown)} {_plain(note.version)}: " + " · ".join(parts)


def _details(note: ImageNotes, shown: str, budget: int) -> list[str]:
    release = note.release
    if release is None or not release.body.strip() or budget <= 0:
        return []
    text, cut = sanitise(release.body, min(MAX_RELEASE_CHARS, budget))
    if not text:
        return []
    title = f"{shown} {release.tag}" + (f": {release.name}" if release.name.strip() else "")
    lines = ["", f"<details><summary>{_summary_text(title[:200])}</summary>", "", text]
    if cut:
        lines += [
            "",
            f"_Cut here: the whole text is on [the release]({note.repo.release_url(release.tag)})._",
        ]
    return [*lines, "", "</details>"]


def notes_lines(notes: Sequence[ImageNotes], shown: Callable[[str], str]) -> list[str]:
    """The body's release notes section (empty when there are none). ``shown`` names an image as
    the PR table does."""
    if not notes:
        return []
    lines = ["", "**Release notes:**"]
    budget = MAX_SECTION_CHARS
    for note in sorted(notes, key=lambda n: (n.image, n.version)):
        name = shown(note.image)
        lines += ["", _link_line(note, name)]
        details = _details(note, name, budget)
        budget -= sum(len(line) + 1 for line in details)
        lines += details
    return lines

"""Bytes → text → YAML node trees, with the checks that keep bad input out (pure).

``load_text`` turns a file's bytes into text (size limit, binary, UTF-8, BOM kept so that
``text.encode("utf-8")`` gives the original bytes back). ``compose`` parses every document with
libyaml (PyYAML's C composer) into nodes whose marks are character offsets into the text.
"""

from __future__ import annotations

import gc
import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import yaml

from bot.core.manifests.budget import expansion
from bot.core.manifests.model import DEFAULT_MAX_BYTES
from bot.errors import ManifestError

try:  # libyaml is what makes locating fast; the pure-Python composer gives the same nodes
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - only on a PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

BOM = "\ufeff"
#: what libyaml counts as a line break (YAML 1.1): line numbers in marks count these
BREAKS = "\r\n\x85\u2028\u2029"
_BREAK_RE = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
#: a `---` document start at the beginning of a line
_DOC_START = re.compile("(?:(?<=[\r\n\x85\u2028\u2029])|\\A\ufeff?)---(?=[ \t\r\n\x85\u2028\u2029]|\\Z)")
_FOREIGN_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}


def check_size(size: int, file: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """ManifestError when a file of ``size`` bytes is too large to be a manifest (callers that
    know a file's size can refuse it without reading it)."""
    if size > max_bytes:
        raise ManifestError(f"file is {size} bytes, over the limit of {max_bytes} bytes", file=file)


def load_text(data: bytes, file: str, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Decode a manifest; raise ManifestError for an oversized, binary or non-UTF-8 file.

    A UTF-8 byte-order mark stays in the text as ``\\ufeff`` so the file writes back unchanged.
    """
    check_size(len(data), file, max_bytes)
    for bom, name in _FOREIGN_BOMS.items():
        if data.startswith(bom):
            raise ManifestError(f"{name} text is not supported; re-encode the file as UTF-8", file=file)
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise ManifestError("binary file (NUL byte), not a YAML manifest", file=file, line=line)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start]
        raise ManifestError(f"not valid UTF-8 (byte 0x{bad:02x})", file=file, line=line) from None


@dataclass(frozen=True, slots=True)
class Parsed:
    """The documents of one text; node marks + ``offset`` index into the text.

    A document that could not be parsed (a Helm template's ``{{- if }}`` line in one document of
    several) has ``None`` as its root and its error in ``errors``; the others are usable."""

    text: str
    roots: list[yaml.Node | None]
    offset: int  # 1 when the text starts with a BOM (libyaml's marks do not count it)
    aliased: list[bool] = field(default_factory=list)  # per document: aliases or merges used
    errors: dict[int, ManifestError] = field(default_factory=dict)

    def documents(self) -> Iterator[tuple[int, yaml.Node]]:
        """(index, root) of every readable document."""
        for doc, root in enumerate(self.roots):
            if root is not None:
                yield doc, root


@contextmanager
def no_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a node tree is built and walked.

    Composing creates one object per node and mark; with the collector on, its generation-2 passes
    re-scan the growing tree over and over (2-4x the parse time on a 1 MiB file). Nodes hold no
    cycles we create, and the previous state is restored on exit.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def line_breaks(text: str, start: int = 0, end: int | None = None) -> int:
    """Line breaks in ``text[start:end]`` as libyaml counts them (``\\r\\n`` is one)."""
    return len(_BREAK_RE.findall(text, start, len(text) if end is None else end))


def compose(text: str, file: str) -> Parsed:
    """Parse every document into nodes, each checked against the alias/merge budget.

    Raise ManifestError naming the file and line when nothing can be read. When the whole text
    does not parse but some of its ``---`` documents do, those are kept and the others recorded
    in ``Parsed.errors``."""
    offset = 1 if text.startswith(BOM) else 0
    try:
        roots: list[yaml.Node | None] = list(_compose_all(text, file, offset))
        errors: dict[int, ManifestError] = {}
    except ManifestError as whole:
        roots, errors = _compose_documents(text, file, offset, whole)
    aliased = [False] * len(roots)
    if "&" in text:  # no anchor, no alias: nothing can expand
        for doc, root in enumerate(roots):
            if root is not None:
                visits, distinct = expansion(root, file, len(text))
                aliased[doc] = visits > distinct
    return Parsed(text=text, roots=roots, offset=offset, aliased=aliased, errors=errors)


def _compose_all(text: str, file: str, offset: int) -> Iterator[yaml.Node]:
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield node
    except yaml.MarkedYAMLError as exc:
        raise _marked_error(text, offset, exc, file) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1
        raise ManifestError(
            f"invalid YAML: character #x{exc.character:04x} is not allowed", file=file, line=line
        ) from None
    except RecursionError:
        raise ManifestError("invalid YAML: nested too deeply", file=file) from None
    finally:
        loader.dispose()


def _compose_documents(
    text: str, file: str, offset: int, whole: ManifestError
) -> tuple[list[yaml.Node | None], dict[int, ManifestError]]:
    """Parse each ``---`` document on its own; raise ``whole`` unless at least one of them parses.

    A document that fails counts as one document, so the indexes of the others stay those a
    reader of the whole file would give."""
    starts = [m.start() for m in _DOC_START.finditer(text)]
    bounds = [*sorted({0, *starts}), len(text)]
    if len(bounds) < 3 or "not allowed" in whole.reason:
        raise whole
    roots: list[yaml.Node | None] = []
    errors: dict[int, ManifestError] = {}
    for start, end in itertools.pairwise(bounds):
        chunk = text[start:end]
        try:
            nodes = list(_compose_all(chunk, file, offset if start == 0 else 0))
        except ManifestError as exc:
            line = None if exc.line is None else exc.line + line_breaks(text, 0, start)
            errors[len(roots)] = ManifestError(f"document skipped: {exc.reason}", file=file, line=line)
            roots.append(None)
            continue
        if start:
            shift = _Shift(start - offset, line_breaks(text, 0, start))
            for node in nodes:
                shift.apply(node)
        roots.extend(nodes)
    if all(root is None for root in roots):
        raise whole
    return roots, errors


class _Shift:
    """Move a chunk's marks to where the chunk sits in the whole text (it starts a line)."""

    def __init__(self, index: int, line: int) -> None:
        self.index, self.line = index, line
        self.done: set[int] = set()

    def apply(self, node: yaml.Node) -> None:
        if id(node) in self.done:
            return
        self.done.add(id(node))
        node.start_mark = self._mark(node.start_mark)
        node.end_mark = self._mark(node.end_mark)
        if isinstance(node, yaml.SequenceNode):
            for item in node.value:
                self.apply(item)
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                self.apply(k)
                self.apply(v)

    def _mark(self, mark: yaml.Mark) -> yaml.Mark:
        return yaml.Mark(mark.name, mark.index + self.index, mark.line + self.line, mark.column, None, None)


def _marked_error(text: str, offset: int, exc: yaml.MarkedYAMLError, file: str) -> ManifestError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    if mark is not None and "cannot start any token" in (exc.problem or ""):
        index = mark.index + offset
        if 0 <= index < len(text) and text[index] == "\t":
            return ManifestError(
                "tab character used for indentation (YAML allows only spaces)", file=file, line=line
            )
    reason = exc.problem or "parse error"
    if exc.context and exc.context not in reason:
        reason = f"{reason} ({exc.context})"
    return ManifestError(f"invalid YAML: {reason}", file=file, line=line)

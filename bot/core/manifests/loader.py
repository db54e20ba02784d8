"""Bytes → text → YAML node trees, with the checks that keep bad input out (pure).

``load_text`` turns a file's bytes into text (size limit, binary, UTF-8, BOM kept so that
``text.encode("utf-8")`` gives the original bytes back). ``compose`` parses every document with
libyaml (PyYAML's C composer) into nodes whose marks are character offsets into the text.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import yaml

from bot.core.manifests.model import DEFAULT_MAX_BYTES
from bot.errors import ManifestError

try:  # libyaml is what makes locating fast; the pure-Python composer gives the same nodes
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - only on a PyYAML built without libyaml
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

BOM = "\ufeff"
_FOREIGN_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}


def load_text(data: bytes, file: str, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """Decode a manifest; raise ManifestError for an oversized, binary or non-UTF-8 file.

    A UTF-8 byte-order mark stays in the text as ``\\ufeff`` so the file writes back unchanged.
    """
    if len(data) > max_bytes:
        raise ManifestError(f"file is {len(data)} bytes, over the limit of {max_bytes} bytes", file=file)
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
    """The documents of one text; node marks + ``offset`` index into the text."""

    text: str
    roots: list[yaml.Node]
    offset: int  # 1 when the text starts with a BOM (libyaml's marks do not count it)


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


def compose(text: str, file: str) -> Parsed:
    """Parse every document into nodes; raise ManifestError naming the file and line."""
    offset = 1 if text.startswith(BOM) else 0
    loader = _Loader(text)
    try:
        roots = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                roots.append(node)
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
    return Parsed(text=text, roots=roots, offset=offset)


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

"""The surgical YAML engine: locate image references in GitOps manifests and edit only their bytes.

    scan(text, file="<input>") -> list[Reference]
    scan_report(text, file="<input>") -> (list[Reference], skipped documents)
    select(refs, selector) -> list[Reference]
    edit(text, file, edits) -> EditResult          # raises ManifestError / UnsafeEdit
    load_text(data, file, max_bytes=DEFAULT_MAX_BYTES) -> str

See docs/manifests.md.
"""

from bot.core.manifests.edit import edit
from bot.core.manifests.loader import load_text
from bot.core.manifests.locate import scan, scan_report
from bot.core.manifests.model import (
    DEFAULT_MAX_BYTES,
    Change,
    Edit,
    EditResult,
    Reference,
    RefKind,
    Selector,
)
from bot.core.manifests.select import select

__all__ = [
    "DEFAULT_MAX_BYTES",
    "Change",
    "Edit",
    "EditResult",
    "RefKind",
    "Reference",
    "Selector",
    "edit",
    "load_text",
    "scan",
    "scan_report",
    "select",
]

"""Golden cases: tests/fixtures/manifests/<case>/{original,expected}.yaml + edit.json, byte for byte.

``edit.json`` is ``{"edits": [{selector: image | chart | marker | path (+ doc), tag, digest, name}]}``
(a chart's version is its ``tag``); a ``name`` asks for a rename to that image; an optional top-level
``file`` is the name the file is edited under (``Chart.yaml`` shapes go by the file's name)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.core.manifests import Edit, Selector, edit, load_text

CASES_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "manifests"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if (p / "original.yaml").exists())


def _edits(case: Path) -> list[Edit]:
    spec = json.loads((case / "edit.json").read_text())
    out = []
    for e in spec["edits"]:
        selector = Selector(
            image=e.get("image"),
            chart=e.get("chart"),
            marker=e.get("marker"),
            path=e.get("path"),
            doc=e.get("doc"),
        )
        out.append(
            Edit(
                selector,
                tag=e.get("tag"),
                digest=e.get("digest"),
                image=e.get("name"),
                rename="name" in e,
                insert=e.get("insert", True),
            )
        )
    return out


def test_there_are_at_least_forty_cases() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", CASES)
def test_golden_edit_is_byte_exact(name: str) -> None:
    case = CASES_DIR / name
    original = (case / "original.yaml").read_bytes()
    expected = (case / "expected.yaml").read_bytes()
    file = json.loads((case / "edit.json").read_text()).get("file", name)
    result = edit(load_text(original, file), file, _edits(case))
    assert result.changed
    assert result.matched >= 1
    assert result.text.encode("utf-8") == expected
    # applying the same edit again is a no-op that still reports the match
    again = edit(result.text, file, _edits(case))
    assert not again.changed
    assert again.matched == result.matched
    assert again.text == result.text

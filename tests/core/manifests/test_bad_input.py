"""Bad input: clear errors naming file and line; edits refuse rather than half-apply."""

from __future__ import annotations

import pytest

from bot.core.manifests import Edit, Selector, edit, load_text, scan
from bot.errors import ManifestError, UnsafeEdit


def test_load_text_limits_and_encodings() -> None:
    with pytest.raises(ManifestError, match=r"^big\.yaml: file is 11 bytes, over the limit of 10 bytes$"):
        load_text(b"a: 12345678", "big.yaml", max_bytes=10)
    with pytest.raises(ManifestError, match=r"bin\.yaml:2: binary file") as err:
        load_text(b"a: 1\n\x00\x01", "bin.yaml")
    assert err.value.line == 2 and err.value.file == "bin.yaml"
    with pytest.raises(ManifestError, match=r"l1\.yaml:3: not valid UTF-8 \(byte 0xe9\)"):
        load_text(b"a: 1\nb: 2\nc: caf\xe9\n", "l1.yaml")
    with pytest.raises(ManifestError, match="UTF-16"):
        load_text("a: 1\n".encode("utf-16"), "u16.yaml")
    text = load_text(b"\xef\xbb\xbfa: 1\n", "bom.yaml")
    assert text.encode("utf-8") == b"\xef\xbb\xbfa: 1\n"


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("a: [1, 2\nb: 3\n", "invalid YAML", 2),
        ("a:\n\timage: x\n", "tab character used for indentation", 2),
        ("a: 1\nb:\n  c: 1\n  c: 2\n", "duplicate key 'c'", 4),
        ("a: *nope\n", "invalid YAML: found undefined alias", 1),
        ("a: b: c\n", "invalid YAML: mapping values are not allowed", 1),
        ("a: &x [*x]\n", "recursive alias", 1),
    ],
)
def test_invalid_yaml_names_file_and_line(text: str, message: str, line: int) -> None:
    with pytest.raises(ManifestError) as err:
        scan(text, "bad.yaml")
    assert message in err.value.reason
    assert err.value.file == "bad.yaml"
    assert err.value.line == line
    assert str(err.value).startswith(f"bad.yaml:{line}: ")


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 9)}]")
    with pytest.raises(ManifestError, match="alias bomb"):
        scan("\n".join(lines) + "\n", "bomb.yaml")


def test_edit_refuses_unsafe_insertion_and_keeps_nothing() -> None:
    text = "image:\n  repository: acme/app\n  extra:\n    nested: true\n"
    with pytest.raises(UnsafeEdit, match=r"x\.yaml:4: image: cannot add 'tag' after a nested value"):
        edit(text, "x.yaml", [Edit(Selector(image="acme/app"), tag="1.0")])


def test_edit_rejects_invalid_tag_and_selector() -> None:
    text = "a:\n  image: acme/app:1\n"
    with pytest.raises(ManifestError, match="invalid tag"):
        edit(text, "x.yaml", [Edit(Selector(image="acme/app"), tag="-bad")])
    with pytest.raises(ManifestError, match="invalid digest"):
        edit(text, "x.yaml", [Edit(Selector(image="acme/app"), digest="sha256:abc")])
    with pytest.raises(ManifestError, match="exactly one"):
        edit(text, "x.yaml", [Edit(Selector(), tag="1")])


def test_conflicting_edits_of_one_value_are_refused() -> None:
    text = 'a:\n  image: acme/app:1 # {"$imagepolicy": "ns:app"}\n'
    edits = [Edit(Selector(image="acme/app"), tag="2"), Edit(Selector(marker="ns:app"), tag="3")]
    with pytest.raises(UnsafeEdit, match=r"conflicting edits of a\.image"):
        edit(text, "x.yaml", edits)


def test_nothing_matched_versus_already_at_value() -> None:
    text = "a:\n  image: acme/app:1\n"
    none = edit(text, "x.yaml", [Edit(Selector(image="acme/other"), tag="1")])
    same = edit(text, "x.yaml", [Edit(Selector(image="acme/app"), tag="1")])
    assert (none.matched, none.changed, none.text) == (0, False, text)
    assert (same.matched, same.changed, same.text) == (1, False, text)


def test_path_selection_reads_tags_digests_and_images() -> None:
    d = "sha256:" + "ab" * 32
    text = (
        f"p:\n  - name: tag\n    value: 1.2@{d}\n  - name: digest\n    value: {d}\n"
        "  - name: img\n    value: a/b:1\n"
    )
    tagged = edit(text, "x", [Edit(Selector(path="p[0].value"), tag="1.3")])
    assert 'value: "1.3"\n' in tagged.text  # digest dropped (pinned to the old tag); quoted: 1.3 is a float
    dig = edit(text, "x", [Edit(Selector(path="p[1].value"), digest="sha256:" + "cd" * 32)])
    assert f"value: sha256:{'cd' * 32}\n" in dig.text
    img = edit(text, "x", [Edit(Selector(path="p[2].value"), tag="2")])
    assert "value: a/b:2\n" in img.text
    missing = edit(text, "x", [Edit(Selector(path="p[9].value"), tag="2")])
    assert missing.matched == 0
    with pytest.raises(ManifestError, match="not an image reference"):
        edit("image: NOT AN IMAGE\n", "x", [Edit(Selector(path="image"), tag="2")])

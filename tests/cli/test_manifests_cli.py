"""`manifest-bot scan` and `manifest-bot bump`: output shapes, exit codes and error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import main

DEPLOY = b"""apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
      - name: web
        image: ghcr.io/mastodon/mastodon:v4.2.1 # {"$imagepolicy": "flux-system:mastodon"}
      - name: streaming
        image: ghcr.io/mastodon/mastodon-streaming:v4.2.1
"""
DIGEST = "sha256:" + "0123456789abcdef" * 4


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


@pytest.fixture
def deploy(tmp_path: Path) -> Path:
    path = tmp_path / "deploy.yaml"
    path.write_bytes(DEPLOY)
    return path


def test_scan_text_lists_every_reference(deploy: Path) -> None:
    result = run("scan", str(deploy))
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines == [
        f"{deploy}:8:16  doc=0  container  spec.template.spec.containers[0].image  "
        "ghcr.io/mastodon/mastodon:v4.2.1  marker=flux-system:mastodon",
        f"{deploy}:10:16  doc=0  container  spec.template.spec.containers[1].image  "
        "ghcr.io/mastodon/mastodon-streaming:v4.2.1",
    ]


def test_scan_json_has_the_documented_keys(deploy: Path) -> None:
    result = run("scan", str(deploy), "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert rows[0] == {
        "file": str(deploy),
        "line": 8,
        "column": 16,
        "doc": 0,
        "path": "spec.template.spec.containers[0].image",
        "kind": "container",
        "image": "ghcr.io/mastodon/mastodon",
        "tag": "v4.2.1",
        "digest": None,
        "marker": "flux-system:mastodon",
    }
    assert len(rows) == 2


def test_scan_reports_bad_files_and_exits_2(tmp_path: Path, deploy: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: 1\nb: c: d\n")
    result = run("scan", str(deploy), str(bad), str(tmp_path / "missing.yaml"))
    assert result.exit_code == 2
    assert "ghcr.io/mastodon/mastodon:v4.2.1" in result.stdout  # good files are still listed
    assert f"error: {bad}:2: invalid YAML" in result.stderr
    assert f"error: {tmp_path / 'missing.yaml'}: cannot read: No such file or directory" in result.stderr


def test_bump_prints_a_unified_diff_and_leaves_the_file(deploy: Path) -> None:
    result = run("bump", str(deploy), "--image", "ghcr.io/mastodon/mastodon", "--tag", "v4.2.2")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"--- a/{deploy}",
        f"+++ b/{deploy}",
        "@@ -5,6 +5,6 @@",
        "     spec:",
        "       containers:",
        "       - name: web",
        '-        image: ghcr.io/mastodon/mastodon:v4.2.1 # {"$imagepolicy": "flux-system:mastodon"}',
        '+        image: ghcr.io/mastodon/mastodon:v4.2.2 # {"$imagepolicy": "flux-system:mastodon"}',
        "       - name: streaming",
        "         image: ghcr.io/mastodon/mastodon-streaming:v4.2.1",
    ]
    assert deploy.read_bytes() == DEPLOY


def test_bump_write_edits_in_place_byte_exact(tmp_path: Path) -> None:
    path = tmp_path / "crlf.yaml"
    original = DEPLOY.replace(b"\n", b"\r\n")
    path.write_bytes(original)
    result = run("bump", str(path), "--marker", "flux-system:mastodon", "--tag", "v4.3.0", "--write")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert path.read_bytes() == original.replace(b"mastodon:v4.2.1", b"mastodon:v4.3.0")
    assert "spec.template.spec.containers[0].image: ghcr.io/mastodon/mastodon:v4.2.1 -> " in result.stderr


def test_bump_by_path_and_doc(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_bytes(b"image:\n  tag: v1\n---\nimage:\n  tag: v1\n")
    result = run("bump", str(path), "--path", "image.tag", "--doc", "1", "--tag", "v2", "--write")
    assert result.exit_code == 0
    assert path.read_bytes() == b"image:\n  tag: v1\n---\nimage:\n  tag: v2\n"


def test_bump_digest_only(deploy: Path) -> None:
    result = run("bump", str(deploy), "--image", "ghcr.io/mastodon/mastodon", "--digest", DIGEST, "--write")
    assert result.exit_code == 0
    assert f"mastodon:v4.2.1@{DIGEST} #".encode() in deploy.read_bytes()


def test_nothing_matched_exits_1_and_says_so(deploy: Path) -> None:
    result = run("bump", str(deploy), "--image", "ghcr.io/mastodon/mastodon-web", "--tag", "v5")
    assert result.exit_code == 1
    assert result.stderr == f"error: nothing matched --image ghcr.io/mastodon/mastodon-web in {deploy}\n"
    assert result.stdout == ""


def test_already_at_value_exits_1_and_says_so(deploy: Path) -> None:
    result = run("bump", str(deploy), "--image", "ghcr.io/mastodon/mastodon", "--tag", "v4.2.1", "--write")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: already at that value: 1 reference(s) matched --image ghcr.io/mastodon/mastodon "
        "and all are already at :v4.2.1\n"
    )
    assert deploy.read_bytes() == DEPLOY


def test_missing_path_is_nothing_matched(deploy: Path) -> None:
    result = run("bump", str(deploy), "--path", "spec.nope", "--tag", "v1")
    assert result.exit_code == 1
    assert result.stderr == f"error: nothing matched --path spec.nope --doc 0 in {deploy}\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"a: 1\nb: c: d\n", "{f}:2: invalid YAML: mapping values are not allowed in this context"),
        (b"a:\n\timage: x:1\n", "{f}:2: tab character used for indentation (YAML allows only spaces)"),
        (b"image: a/b:1\nimage: a/b:2\n", "{f}:2: duplicate key 'image'"),
        (b"\x00\x01\x02", "{f}:1: binary file (NUL byte), not a YAML manifest"),
        (b"image: caf\xe9\n", "{f}:1: not valid UTF-8 (byte 0xe9)"),
        (
            b"image:\n  repository: a/b\n  x:\n    y: 1\n",
            "{f}:4: image: cannot add 'tag' after a nested value",
        ),
    ],
)
def test_bad_files_exit_2_untouched(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    result = run("bump", str(path), "--image", "a/b", "--tag", "9", "--write")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: " + message.format(f=path))
    assert result.stderr.rstrip().endswith("no file was changed")
    assert path.read_bytes() == content


def test_file_over_the_size_limit_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    content = b"a: " + b"x" * (5 * 1024 * 1024) + b"\n"
    path.write_bytes(content)
    result = run("bump", str(path), "--image", "a/b", "--tag", "9")
    assert result.exit_code == 2
    assert f"error: {path}: file is {len(content)} bytes, over the limit of 5242880 bytes" in result.stderr


def test_one_bad_file_means_no_file_is_written(tmp_path: Path, deploy: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"x: [\n")
    result = run(
        "bump", str(deploy), str(bad), "--image", "ghcr.io/mastodon/mastodon", "--tag", "v9", "--write"
    )
    assert result.exit_code == 2
    assert deploy.read_bytes() == DEPLOY


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--image", "Not Valid", "--tag", "1"],
            "error: invalid image reference 'Not Valid': contains white space",
        ),
        (["--image", "a/b", "--tag", "-1"], "error: invalid tag '-1'"),
        (["--image", "a/b", "--digest", "md5:xyz"], "error: invalid digest 'md5:xyz'"),
    ],
)
def test_invalid_references_exit_2(deploy: Path, args: list[str], message: str) -> None:
    result = run("bump", str(deploy), *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tag", "1"], "give exactly one of --image, --marker or --path"),
        (
            ["--image", "a/b", "--marker", "ns:a", "--tag", "1"],
            "give exactly one of --image, --marker or --path",
        ),
        (["--image", "a/b", "--doc", "1", "--tag", "1"], "--doc only with --path"),
        (["--image", "a/b"], "give --tag, --digest or both"),
        (["--marker", "nocolon", "--tag", "1"], "--marker must look like NAMESPACE:NAME"),
        (["--path", "a..b", "--tag", "1"], "--path: malformed path"),
    ],
)
def test_usage_errors_exit_2(deploy: Path, args: list[str], message: str) -> None:
    result = run("bump", str(deploy), *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert deploy.read_bytes() == DEPLOY


# --- the central rule on the command line: refused means exit 2 and nothing written --------------
@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (
            b"spec:\n  helm:\n    parameters:\n      - name: image.repository\n        value: nginx\n",
            ["--path", "spec.helm.parameters[0].value", "--tag", "1.27"],
            "there is no tag there and none can be added",
        ),
        (
            b"images:\n  - name: web\n    newName: ghcr.io/acme/web:1.0\n    newTag: '1.0'\n",
            ["--image", "ghcr.io/acme/web", "--tag", "1.1"],
            "newName carries a tag or digest and newTag/digest is set too",
        ),
        (
            b"p:\n  - name: thing\n    value: nginx@sha256:" + b"ab" * 32 + b"\n",
            ["--path", "p[0].value", "--tag", "1.27"],
            "cannot tell whether",
        ),
        (
            b"deploy:\n  repository: nginx\n",
            ["--path", "deploy.repository", "--tag", "1"],
            "holds an image name",
        ),
        (
            b"images:\n  - name: web\n    newTag: CONTAINER_IMAGES_TAG\n",
            ["--path", "images[0].newTag", "--tag", "1.1"],
            "placeholder",
        ),
    ],
)
def test_refused_edits_exit_2_and_write_nothing(
    tmp_path: Path, content: bytes, args: list[str], message: str
) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(content)
    result = run("bump", str(path), *args, "--write")
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.rstrip().endswith("no file was changed")
    assert path.read_bytes() == content


def test_docker_hub_image_by_path_keeps_its_name(tmp_path: Path) -> None:
    path = tmp_path / "app.yaml"
    path.write_bytes(
        b"spec:\n  helm:\n    parameters:\n      - name: waitImage\n        value: busybox:1.36\n"
    )
    result = run("bump", str(path), "--path", "spec.helm.parameters[0].value", "--tag", "1.37", "--write")
    assert result.exit_code == 0
    assert b"value: busybox:1.37\n" in path.read_bytes()


def test_bump_name_renames_the_selected_reference(deploy: Path) -> None:
    result = run(
        "bump",
        str(deploy),
        "--marker",
        "flux-system:mastodon",
        "--name",
        "registry.example.com/mastodon",
        "--tag",
        "v4.2.2",
        "--write",
    )
    assert result.exit_code == 0, result.stderr
    text = deploy.read_text()
    assert "image: registry.example.com/mastodon:v4.2.2 # {" in text
    assert "image: ghcr.io/mastodon/mastodon-streaming:v4.2.1" in text


def test_placeholders_are_left_alone_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "kustomization.yaml"
    content = b"images:\n  - name: ghcr.io/acme/web\n    newTag: CONTAINER_IMAGES_TAG\n"
    path.write_bytes(content)
    result = run("bump", str(path), "--image", "ghcr.io/acme/web", "--tag", "1.1", "--write")
    assert result.exit_code == 1
    assert f"note: {path}:2: images[0]: 'CONTAINER_IMAGES_TAG' is a placeholder" in result.stderr
    assert "that could be changed (1 left alone, see the notes)" in result.stderr
    assert path.read_bytes() == content


def test_a_templated_document_is_noted_and_the_others_are_bumped(tmp_path: Path) -> None:
    path = tmp_path / "all.yaml"
    path.write_bytes(b"image: a/b:1\n---\n{{- if .Values.on }}\nkind: X\n{{- end }}\n---\nimage: a/b:1\n")
    scanned = run("scan", str(path))
    assert scanned.exit_code == 0 and scanned.stdout.count("a/b:1") == 2
    assert f"note: {path}:3: document skipped: invalid YAML" in scanned.stderr
    result = run("bump", str(path), "--image", "a/b", "--tag", "2", "--write")
    assert result.exit_code == 0
    assert path.read_bytes().count(b"image: a/b:2\n") == 2
    assert f"note: {path}:3: document skipped" in result.stderr


def test_diff_lines_end_only_at_newlines(tmp_path: Path) -> None:
    path = tmp_path / "v.yaml"
    path.write_text('motto: "a\u2028b"\napp:\n  image: a/b:1\n', encoding="utf-8")
    result = run("bump", str(path), "--image", "a/b", "--tag", "2")
    assert result.exit_code == 0
    assert ' motto: "a\u2028b"\n' in result.stdout  # one context line, not split at U+2028

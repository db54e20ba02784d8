"""Images inside a kustomization's inline patches: found with their two-part path, bumped inside
the patch text with every other byte of both the patch and the kustomization kept."""

from __future__ import annotations

import pytest

from bot.core.manifests import Edit, Selector, edit, scan, scan_report
from bot.errors import ManifestError, UnsafeEdit

KUSTOMIZATION = """\
resources: [web.yaml]
patches:
  - target: {kind: Deployment, name: web}
    patch: |-
      # set by the overlay
      - op: replace
        path: /spec/template/spec/containers/0/image
        value: 'nginx:1.27.0'   # quoted on purpose

      - {op: add, path: /metadata/labels/tier, value: web}
  - patch: |
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: web}
      spec:
        template:
          spec:
            containers:
            - name: side
              image: ghcr.io/acme/side:2.0 # {"$imagepolicy": "flux:side"}
"""


def test_scan_names_the_patch_and_the_place_in_it() -> None:
    refs = scan(KUSTOMIZATION, "kustomization.yaml")
    assert [(r.path, r.kind, r.image, r.tag, r.line, r.column, r.marker) for r in refs] == [
        ("patches[0].patch|[0].value", "container", "nginx", "1.27.0", 8, 16, None),
        (
            "patches[1].patch|spec.template.spec.containers[0].image",
            "container",
            "ghcr.io/acme/side",
            "2.0",
            20,
            22,
            "flux:side",
        ),
    ]
    start, end = refs[0].spans[0]
    assert KUSTOMIZATION[start:end] == "'nginx:1.27.0'"


@pytest.mark.parametrize(
    "selector",
    [
        Selector(image="nginx"),
        Selector(path="patches[0].patch|[0].value"),
        Selector(path="patches[0].patch|0|[0].value"),
    ],
    ids=["image", "path", "path-with-doc"],
)
def test_a_bump_inside_a_patch_changes_only_the_value(selector: Selector) -> None:
    result = edit(KUSTOMIZATION, "kustomization.yaml", [Edit(selector, tag="1.28.0")])
    assert result.text == KUSTOMIZATION.replace("'nginx:1.27.0'", "'nginx:1.28.0'")
    assert [(c.path, c.old, c.new, c.image) for c in result.changes] == [
        ("patches[0].patch|[0].value", "nginx:1.27.0", "nginx:1.28.0", "docker.io/library/nginx")
    ]


def test_markers_and_crlf_inside_a_patch() -> None:
    text = KUSTOMIZATION.replace("\n", "\r\n")
    result = edit(text, "kustomization.yaml", [Edit(Selector(marker="flux:side"), tag="2.1")])
    assert result.text == text.replace("side:2.0", "side:2.1")


def test_a_digest_pinned_inside_a_patch_and_a_selector_on_the_kustomization_and_its_patch() -> None:
    text = "images:\n- name: nginx\n  newTag: 1.25.3\n" + KUSTOMIZATION
    digest = "sha256:" + "ab" * 32
    result = edit(text, "kustomization.yaml", [Edit(Selector(image="nginx"), tag="1.28.0", digest=digest)])
    paths = {c.path for c in result.changes}
    assert paths == {"images[0].newTag", "images[0].digest", "patches[0].patch|[0].value"}
    assert f"'nginx:1.28.0@{digest}'" in result.text


def test_nothing_is_added_inside_a_patch() -> None:
    text = "patches:\n- patch: |-\n    image: {repository: nginx}\n"
    added = r"kustomization.yaml:3: patches\[0\].patch: image\.tag would be added inside the patch"
    with pytest.raises(UnsafeEdit, match=added):
        edit(text, "kustomization.yaml", [Edit(Selector(image="nginx"), tag="1.2")])


def test_a_patch_that_cannot_be_mapped_is_named_and_left_alone() -> None:
    text = (
        "patches:\n- patch: >-\n    [{op: replace, path: /spec/template/spec/containers/0/image,\n"
        "    value: nginx:1.2}]\n"
    )
    refs, notes = scan_report(text, "kustomization.yaml")
    assert refs == []
    assert notes == (
        "kustomization.yaml:2: patches[0].patch: a patch written this way (folded, escaped or with an "
        "indentation indicator) is not read; write it as a literal block (`patch: |-`) to have its "
        "images found",
    )


def test_a_bad_patch_is_reported_at_its_line_in_the_kustomization() -> None:
    text = "resources: []\npatches:\n- patch: |-\n    a: [1\n    b: 2\n"
    refs, notes = scan_report(text, "kustomization.yaml")
    assert refs == []
    assert len(notes) == 1 and notes[0].startswith("kustomization.yaml:5: patches[0].patch: patch not read:")
    with pytest.raises(ManifestError, match=r"kustomization\.yaml:5: patches"):
        edit(text, "kustomization.yaml", [Edit(Selector(path="patches[0].patch|a[0]"), tag="1")])


def test_a_json6902_file_and_a_kubernetes_list_are_not_confused() -> None:
    ops = '[{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.2"}]\n'
    assert [(r.path, r.kind) for r in scan(ops, "patch.json")] == [("[0].value", "container")]
    result = edit(ops, "patch.json", [Edit(Selector(image="nginx"), tag="1.3")])
    assert result.text == ops.replace("1.2", "1.3")
    removed = "- op: remove\n  path: /spec/template/spec/containers/0/image\n  value: nginx:1.2\n"
    assert scan(removed, "patch.yaml") == []

"""Locating references: kinds, paths, positions, spans, markers, selection."""

from __future__ import annotations

import pytest

from bot.core.manifests import Reference, Selector, scan, select

DEPLOY = """apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
        - name: web
          image: nginx:1.25.3 # {"$imagepolicy": "flux-system:web"}
      initContainers:
        - name: init
          image: "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
"""


def by_path(refs: list[Reference]) -> dict[str, Reference]:
    return {r.path: r for r in refs}


def test_container_references_with_position_span_and_marker() -> None:
    refs = scan(DEPLOY, "d.yaml")
    assert [r.path for r in refs] == [
        "spec.template.spec.containers[0].image",
        "spec.template.spec.initContainers[0].image",
    ]
    web, init = refs
    assert (web.kind, web.image, web.tag, web.digest, web.marker) == (
        "container",
        "nginx",
        "1.25.3",
        None,
        "flux-system:web",
    )
    assert (web.line, web.column, web.file, web.doc) == (8, 18, "d.yaml", 0)
    ((start, end),) = web.spans
    assert DEPLOY[start:end] == "nginx:1.25.3"
    assert init.tag is None and init.digest.startswith("sha256:0123")
    ((start, end),) = init.spans
    assert DEPLOY[start] == '"' and DEPLOY[end - 1] == '"'  # quoted span includes its quotes


def test_every_kind_is_found_across_documents() -> None:
    text = """services:
  db:
    image: postgres:16
---
images:
- name: web
  newName: ghcr.io/acme/web
  newTag: "1.0"
---
spec:
  source:
    kustomize:
      images: ["alias=ghcr.io/acme/api:2.0"]
---
values:
  image: {registry: quay.io, repository: acme/x, tag: 3.0}
---
setting: v9 # {"$manifest-bot": "ns:tool:tag"}
"""
    refs = scan(text)
    got = [(r.doc, r.kind, r.path, r.image, r.tag) for r in refs]
    assert got == [
        (0, "compose", "services.db.image", "postgres", "16"),
        (1, "kustomize", "images[0]", "ghcr.io/acme/web", "1.0"),
        (2, "argocd", "spec.source.kustomize.images[0]", "ghcr.io/acme/api", "2.0"),
        (3, "helm", "values.image", "quay.io/acme/x", "3.0"),
        (4, "marker", "setting", "", "v9"),
    ]
    assert refs[-1].marker == "ns:tool"


def test_decoys_are_not_references() -> None:
    text = """# image: nginx:1.0
data:
  script: |
    image: nginx:1.0
  image: "{{ .Values.image }}"
  other: nginx:1.0
"""
    assert scan(text) == []


def test_select_by_image_is_normalised_and_never_a_prefix() -> None:
    text = """a: {image: nginx:1}
b: {image: docker.io/library/nginx:2}
c: {image: index.docker.io/library/nginx}
d: {image: nginx-exporter:1}
e: {image: ghcr.io/nginx:1}
"""
    refs = scan(text)
    assert [r.path for r in select(refs, Selector(image="nginx"))] == ["a.image", "b.image", "c.image"]
    assert [r.path for r in select(refs, Selector(image="DOCKER.IO/library/nginx:9"))] == [
        "a.image",
        "b.image",
        "c.image",
    ]
    assert [r.path for r in select(refs, Selector(image="nginx-exporter"))] == ["d.image"]


def test_select_by_marker_and_by_path_with_document() -> None:
    text = 'a:\n  image: x/y:1 # {"$imagepolicy": "ns:y"}\n---\na:\n  image: x/y:1\n'
    refs = scan(text)
    assert [r.doc for r in select(refs, Selector(marker="ns:y"))] == [0]
    assert [r.doc for r in select(refs, Selector(path="a.image", doc=1))] == [1]
    assert select(refs, Selector(path="a.image", doc=2)) == []
    with pytest.raises(ValueError, match="exactly one"):
        select(refs, Selector(image="x/y", marker="ns:y"))


def test_paths_quote_keys_with_dots() -> None:
    text = 'spec:\n  values:\n    "app.kubernetes.io":\n      image: a/b:1\n'
    (ref,) = scan(text)
    assert ref.path == 'spec.values["app.kubernetes.io"].image'
    assert select([ref], Selector(path=ref.path)) == [ref]


def test_bom_and_crlf_positions() -> None:
    text = "\ufeffa:\r\n  image: x/y:1\r\n"
    (ref,) = scan(text)
    ((start, end),) = ref.spans
    assert text[start:end] == "x/y:1"
    assert (ref.line, ref.column) == (2, 10)

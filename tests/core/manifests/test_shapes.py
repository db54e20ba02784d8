"""The image shapes real repositories use: found with the right kind, image, tag and digest; and
what looks like one but is not, left out."""

from __future__ import annotations

import pytest

from bot.core.manifests import scan, scan_report

D1 = "sha256:" + "1f" * 32


def rows(text: str, file: str = "<input>") -> list[tuple[str, str, str, str | None, str | None]]:
    return [(r.kind, r.path, r.image, r.tag, r.digest) for r in scan(text, file)]


def test_kubernetes_image_volume() -> None:
    text = """spec:
  containers:
    - name: app
      image: ghcr.io/acme/app:1.0
  volumes:
    - name: data
      image:
        reference: quay.io/acme/data:v2
        pullPolicy: IfNotPresent
    - name: cfg
      configMap: {name: cfg}
"""
    assert rows(text)[1] == ("volume", "spec.volumes[0].image.reference", "quay.io/acme/data", "v2", None)


def test_flux_kustomization_images_but_not_any_spec_images() -> None:
    flux = """apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
spec:
  images:
    - name: podinfo
      newName: ghcr.io/stefanprodan/podinfo
      newTag: 6.5.0
"""
    assert rows(flux) == [("kustomize", "spec.images[0]", "ghcr.io/stefanprodan/podinfo", "6.5.0", None)]
    other = flux.replace("kustomize.toolkit.fluxcd.io/v1", "example.com/v1").replace(
        "Kustomization", "Gallery"
    )
    assert rows(other) == []


@pytest.mark.parametrize(
    ("mapping", "image", "tag"),
    [
        ("{registry: quay.io, name: acme/x, tag: '1.0'}", "quay.io/acme/x", "1.0"),
        ("{name: acme/x, tag: v2}", "acme/x", "v2"),
        ("{repository: acme/x, version: v3}", "acme/x", "v3"),
        ("{repository: acme/x, tag: v1, version: ignored}", "acme/x", "v1"),
    ],
)
def test_helm_image_mappings(mapping: str, image: str, tag: str) -> None:
    assert rows(f"svc:\n  image: {mapping}\n") == [("helm", "svc.image", image, tag, None)]


def test_helm_mapping_with_only_a_name_is_not_guessed() -> None:
    assert rows("svc:\n  image: {name: acme/x}\n") == []


def test_image_suffixed_keys_need_a_tag_or_digest() -> None:
    text = f"""mesh:
  sidecarImage: envoyproxy/envoy:v1.29.1
  init_image: busybox@{D1}
  baseImage: alpine
  coverImage: cover.png
  vmImage: ubuntu-22.04:latest
"""
    assert rows(text) == [
        ("helm", "mesh.sidecarImage", "envoyproxy/envoy", "v1.29.1", None),
        ("helm", "mesh.init_image", "busybox", None, D1),
    ]


def test_flat_dotted_keys_and_argocd_helm_parameters() -> None:
    flat = 'image.registry: quay.io\nimage.repository: acme/x\nimage.tag: "1.2"\nother.tag: "9"\n'
    assert rows(flat) == [("helm", '["image.repository"]', "quay.io/acme/x", "1.2", None)]
    params = """spec:
  source:
    helm:
      parameters:
        - {name: api.image.repository, value: ghcr.io/acme/api}
        - {name: api.image.tag, value: "3.1"}
        - {name: init.image, value: busybox:1.36}
        - {name: replicas, value: "2"}
        - {name: worker.image.tag, value: "1.0"}
"""
    assert rows(params) == [
        ("argocd", "spec.source.helm.parameters[0].value", "ghcr.io/acme/api", "3.1", None),
        ("argocd", "spec.source.helm.parameters[2].value", "busybox", "1.36", None),
    ]


def test_kustomize_names_carrying_tags_and_combined_new_tag() -> None:
    text = f"""images:
  - name: nginx:1.25
  - name: web
    newName: ghcr.io/acme/web:1.0
  - name: api
    newName: ghcr.io/acme/api@{D1}
  - name: postgres
    newTag: 11@{D1}
  - name: redis
    newName: ghcr.io/acme/redis:1
    newTag: "2"
"""
    assert rows(text) == [
        ("kustomize", "images[0]", "nginx", "1.25", None),
        ("kustomize", "images[1]", "ghcr.io/acme/web", "1.0", None),
        ("kustomize", "images[2]", "ghcr.io/acme/api", None, D1),
        ("kustomize", "images[3]", "postgres", "11", D1),
        ("kustomize", "images[4]", "ghcr.io/acme/redis", "2", None),
    ]


def test_ci_files_are_ci_and_vm_images_are_not_images() -> None:
    circle = """version: 2.1
jobs:
  build:
    docker:
      - image: cimg/python:3.12
  e2e:
    machine:
      image: ubuntu-2204:2024.01.1
workflows:
  all: {jobs: [build, e2e]}
"""
    assert rows(circle, "config.yml") == [("ci", "jobs.build.docker[0].image", "cimg/python", "3.12", None)]
    gitlab = (
        'test:\n  image: ruby:3.3\nlint:\n  image: {name: golangci/golangci-lint:v1.59, entrypoint: [""]}\n'
    )
    assert rows(gitlab, ".gitlab-ci.yml") == [
        ("ci", "test.image", "ruby", "3.3", None),
        ("ci", "lint.image.name", "golangci/golangci-lint", "v1.59", None),
    ]
    actions = (
        "on: push\njobs:\n  t:\n    container:\n      image: node:20\n"
        "    services:\n      db:\n        image: postgres:16\n"
    )
    assert [r[0] for r in rows(actions, "ci.yaml")] == ["ci", "ci"]
    azure = "pool:\n  vmImage: ubuntu-latest\nsteps:\n  - script: make\n"
    assert rows(azure, "azure-pipelines.yml") == []
    assert rows("services:\n  db:\n    image: postgres:16\n", "compose.yaml")[0][0] == "compose"


def test_one_templated_document_is_skipped_and_reported() -> None:
    text = """image: a/b:1
---
{{- if .Values.enabled }}
kind: ConfigMap
{{- end }}
---
image: a/c:2
"""
    refs, skipped = scan_report(text, "chart.yaml")
    assert [(r.doc, r.image, r.line) for r in refs] == [(0, "a/b", 1), (2, "a/c", 7)]
    (note,) = skipped
    assert note.startswith("chart.yaml:3: document skipped: invalid YAML")


def test_positions_count_the_line_breaks_libyaml_counts() -> None:
    text = 'a: "x\u2028y"\nb:\r  image: a/b:1\n'
    (ref,) = scan(text)
    start, end = ref.spans[0]
    assert text[start:end] == "a/b:1"
    assert ref.line == 4  # U+2028 and the lone \r are line breaks to libyaml

"""Every recorded payload under tests/fixtures/webhooks/ parsed into the normalised events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot import sources
from bot.core.events import event_to_dict

FIXTURES = Path(__file__).parent.parent / "fixtures" / "webhooks"
SHA = "3484a3fb816e0859fd6e1cea078d76385ff50625"
DEPLOYED = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"


def gh(event: str) -> dict[str, str]:
    return {"x-github-event": event, "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958"}


def gl(event: str) -> dict[str, str]:
    return {"x-gitlab-event": event, "x-gitlab-event-uuid": "13792a34-cac6-4fda-95a8-c58e00a3954e"}


# (source, fixture, headers, expected events as field subsets | "ignored: <substring>", delivery id)
CASES: list[tuple[str, str, dict[str, str], Any, str | None]] = [
    # --- GitHub ---------------------------------------------------------------------------------
    (
        "github",
        "pull_request.enqueued",
        gh("pull_request"),
        [
            {
                "kind": "pr-queued",
                "forge": "github",
                "repo": "octo-org/manifests",
                "pr_number": 42,
                "queued": True,
                "queue": "merge queue",
                "head_branch": "manifest-bot/prod/api",
                "base_branch": "main",
                "reason": None,
            }
        ],
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    ),
    (
        "github",
        "pull_request.dequeued",
        gh("pull_request"),
        [{"kind": "pr-queued", "pr_number": 42, "queued": False, "reason": "CI_FAILURE"}],
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    ),
    (
        "github",
        "merge_group.checks_requested",
        gh("merge_group"),
        [{"kind": "pr-queued", "pr_number": 42, "queued": True, "head_branch": None, "base_branch": "main"}],
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    ),
    (
        "github",
        "merge_group.destroyed",
        gh("merge_group"),
        [{"kind": "pr-queued", "pr_number": 42, "queued": False, "reason": "dequeued"}],
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    ),
    (
        "github",
        "workflow_run.completed",
        gh("workflow_run"),
        [
            {
                "kind": "ci-finished",
                "forge": "github",
                "repo": "octo-org/octo-repo",
                "sha": SHA,
                "branch": "main",
                "status": "success",
                "run_id": 289782451,
                "run_number": 562,
                "workflow": "build-and-push",
                "link": "https://github.com/octo-org/octo-repo/actions/runs/289782451",
                "finished_at": "2020-10-05T16:35:10Z",
            }
        ],
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    ),
    ("github", "workflow_run.requested", gh("workflow_run"), "ignored: workflow_run requested", None),
    (
        "github",
        "check_suite.completed",
        gh("check_suite"),
        [
            {
                "kind": "ci-finished",
                "repo": "octo-org/octo-repo",
                "sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
                "branch": "changes",
                "status": "failure",
                "run_id": 118578147,
                "workflow": "GitHub Actions",
            }
        ],
        None,
    ),
    (
        "github",
        "push",
        gh("push"),
        [
            {
                "kind": "push",
                "forge": "github",
                "repo": "octo-org/manifests",
                "ref": "refs/heads/main",
                "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
                "after": "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
            }
        ],
        None,
    ),
    ("github", "push.deleted", gh("push"), "ignored: push deleted refs/heads/manifest-bot/prod/api", None),
    (
        "github",
        "issue_comment.created.pull_request",
        gh("issue_comment"),
        [
            {
                "kind": "pr-comment",
                "repo": "octo-org/manifests",
                "pr_number": 42,
                "author": "Codertocat",
                "body": "/manifest-bot hold",
                "comment_id": 492700400,
                "author_is_bot": False,
                "installation_id": 2311213,
            }
        ],
        None,
    ),
    ("github", "issue_comment.created.issue", gh("issue_comment"), "ignored: comment on an issue", None),
    (
        "github",
        "pull_request.closed.merged",
        gh("pull_request"),
        [
            {
                "kind": "pr-closed",
                "repo": "octo-org/manifests",
                "pr_number": 42,
                "merged": True,
                "head_branch": "manifest-bot/prod/api",
                "base_branch": "main",
                "closed_by": "Codertocat",
                "merge_sha": "c4295bd74fb0f4fda03689c3df3f2803b658fd85",
            }
        ],
        None,
    ),
    (
        "github",
        "installation.created",
        gh("installation"),
        [
            {
                "kind": "installation",
                "action": "created",
                "installation_id": 2311213,
                "repos": ["octo-org/manifests", "octo-org/octo-repo"],
            }
        ],
        None,
    ),
    (
        "github",
        "installation_repositories.added",
        gh("installation_repositories"),
        [
            {
                "kind": "installation",
                "action": "added",
                "installation_id": 2311213,
                "repos": ["octo-org/staging-manifests"],
            }
        ],
        None,
    ),
    ("github", "ping", gh("ping"), "ignored: ping", None),
    # GHCR: registry_package (GitHub App) and package (repository/organisation webhooks)
    (
        "github",
        "registry_package.published",
        gh("registry_package"),
        [
            {
                "kind": "image-pushed",
                "image": "ghcr.io/octo-org/octo-repo",
                "tag": "1.4.2",
                "digest": "sha256:b5f0e1d9e5b0c8f3a4d2e6c1f7a9b3d5e8c2f4a6b1d3e5f7a9c0b2d4e6f8a1c3",
                "source": "github",
                "pushed_at": "2024-05-02T09:12:44Z",
            }
        ],
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
    ),
    (
        "github",
        "package.published.container",
        gh("package"),
        [
            {
                "image": "ghcr.io/octo-org/octo-repo",
                "tag": "2.0.0",
                "digest": "sha256:3da1996a8115d7616457760d9920b815241d0a03b34cf5f04e9a0e9d8de37498",
            }
        ],
        None,
    ),
    (
        "github",
        "registry_package.published.untagged",
        gh("registry_package"),
        "ignored: untagged version of 'octo-repo'",
        None,
    ),
    (
        "github",
        "registry_package.updated",
        gh("registry_package"),
        [
            {
                "kind": "image-pushed",
                "image": "ghcr.io/octo-org/octo-repo",
                "tag": "1.5.0",
                "digest": "sha256:87784adb588d13a7ca7d116fdcb121fbb70669fc2c08ec4154b3331f59b0e9c0",
                "pushed_at": "2024-05-06T14:02:19Z",
            }
        ],
        None,
    ),
    # an OCI Helm chart is a `container` package too, and GitHub's definitions give nothing that
    # tells it from an image: it reads as a push of its own repository, which no image names
    (
        "github",
        "registry_package.published.helm",
        gh("registry_package"),
        # the manifest's config is Helm's: a chart's push, which only chart rules route
        [{"kind": "image-pushed", "image": "oci://ghcr.io/octo-org/charts/octo-repo", "tag": "0.3.1"}],
        None,
    ),
    (
        "github",
        "package.published.npm",
        gh("package"),
        "ignored: npm package 'hello-world-npm' is not a container",
        None,
    ),
    ("github", "workflow_job.completed", gh("workflow_job"), "ignored: 'workflow_job' is not used", None),
    # --- GitLab ---------------------------------------------------------------------------------
    (
        "gitlab",
        "pipeline.success",
        gl("Pipeline Hook"),
        [
            {
                "kind": "ci-finished",
                "forge": "gitlab",
                "repo": "gitlab-org/gitlab-test",
                "sha": "bcbb5ec396a2c0f828686f14fac9b80b780504f2",
                "branch": "master",
                "tag": None,
                "status": "success",
                "run_id": 31,
                "run_number": 3,
                "workflow": "Pipeline for branch: master",
                "link": "http://example.com/gitlab-org/gitlab-test/-/pipelines/31",
                "finished_at": "2016-08-12T15:26:29Z",  # GitLab sends "2016-08-12 15:26:29 UTC"
            }
        ],
        "13792a34-cac6-4fda-95a8-c58e00a3954e",
    ),
    (
        "gitlab",
        "pipeline.tag.failed",
        gl("Pipeline Hook"),
        [
            {
                "kind": "ci-finished",
                "branch": None,
                "tag": "v1.4.2",
                "status": "failure",
                "run_id": 32,
                "link": "http://192.168.64.1:3005/gitlab-org/gitlab-test/-/pipelines/32",
            }
        ],
        None,
    ),
    ("gitlab", "pipeline.running", gl("Pipeline Hook"), "ignored: pipeline running: not finished", None),
    # a merge train pipeline (ref refs/merge-requests/<iid>/train): the MR is on the train, or off it
    (
        "gitlab",
        "pipeline.train.running",
        gl("Pipeline Hook"),
        [
            {
                "kind": "pr-queued",
                "repo": "gitlab-org/gitlab-test",
                "pr_number": 1,
                "queued": True,
                "queue": "merge train",
                "head_branch": "manifest-bot/dev/apps",
                "base_branch": "master",
            }
        ],
        None,
    ),
    (
        "gitlab",
        "pipeline.train.failed",
        gl("Pipeline Hook"),
        [{"kind": "pr-queued", "pr_number": 1, "queued": False, "reason": "its pipeline failed"}],
        None,
    ),
    (
        "gitlab",
        "push",
        gl("Push Hook"),
        [
            {
                "kind": "push",
                "forge": "gitlab",
                "repo": "mike/diaspora",
                "ref": "refs/heads/master",
                "before": "95790bf891e76fee5e1747ab589903a6a1f80f22",
                "after": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
            }
        ],
        None,
    ),
    (
        "gitlab",
        "note.merge_request",
        gl("Note Hook"),
        [
            {
                "kind": "pr-comment",
                "forge": "gitlab",
                "repo": "gitlab-org/gitlab-test",
                "pr_number": 1,
                "author": "root",
                "body": "/manifest-bot rollback",
                "comment_id": 1244,
                "author_is_bot": False,
            }
        ],
        None,
    ),
    ("gitlab", "note.issue", gl("Note Hook"), "ignored: comment on a Issue", None),
    (
        "gitlab",
        "merge_request.merge",
        gl("Merge Request Hook"),
        [
            {
                "kind": "pr-closed",
                "forge": "gitlab",
                "repo": "gitlab-org/gitlab-test",
                "pr_number": 1,
                "merged": True,
                "head_branch": "manifest-bot/prod/api",
                "base_branch": "master",
                "closed_by": "root",
                "merge_sha": "9a2f3c7d8e1b4a6c5d0e9f8a7b6c5d4e3f2a1b0c",
            }
        ],
        None,
    ),
    ("gitlab", "job", gl("Job Hook"), "ignored: GitLab event 'build' is not used", None),
    # --- registries ------------------------------------------------------------------------------
    (
        "dockerhub",
        "push",
        {},
        [
            {
                "kind": "image-pushed",
                "image": "docker.io/svendowideit/testhook",
                "tag": "latest",
                "digest": None,
                "source": "dockerhub",
                "pushed_at": "2014-12-03T00:22:41Z",
            }
        ],
        None,
    ),
    (
        "harbor",
        "push_artifact",
        {},
        [
            {
                "image": "harbor.example.com/library/nginx",
                "tag": "v1.2.0",
                "digest": "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4",
                "source": "harbor",
                "pushed_at": "2023-04-03T06:04:53Z",
            }
        ],
        None,
    ),
    (
        "harbor",
        "push_artifact.cloudevents",
        {},
        [
            {
                "image": "harbor.example.com/library/nginx",
                "tag": None,
                "digest": "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4",
            }
        ],
        "66be9b8c-b0d9-4c50-a5a6-b2a3b1b4e8f0",
    ),
    ("harbor", "scanning_completed", {}, "ignored: 'SCANNING_COMPLETED' is not a push", None),
    # Harbor's CDEvents format: a structured CloudEvent carrying a CDEvent artifact.published
    (
        "harbor",
        "push_artifact.cdevents",
        {"content-type": "application/cloudevents+json"},
        [
            {
                "kind": "image-pushed",
                "image": "harbor.dev/library/busybox",
                "tag": "v1.0",
                "digest": "sha256:dde8e930c7b6a490f728e66292bc9bce42efc9bbb5278bae40e4f30f6e00fe8c",
                "source": "harbor",
            }
        ],
        "4b2f89a6-548d-4c12-9993-a1f5790b97d2",
    ),
    (
        "quay",
        "repo_push",
        {},
        [
            {"image": "quay.io/dgangaia/test", "tag": "latest", "source": "quay"},
            {"image": "quay.io/dgangaia/test", "tag": "1.0.3", "source": "quay"},
        ],
        None,
    ),
    ("quay", "build_queued", {}, "ignored: not a repository push", None),
    (
        "acr",
        "push",
        {},
        [
            {
                "image": "myregistry.azurecr.io/hello-world",
                "tag": "v1",
                "digest": "sha256:80f0d5c8786bb9e621a45ece0db56d11cdc624ad20da9fe62e9d25490f331d7d",
                "source": "acr",
            }
        ],
        "cb8c3971-9adc-488b-bdd8-43cbb4974ff5",
    ),
    ("acr", "chart_push", {}, "ignored: 'chart_push' is not an image push", None),
    (
        "acr",
        "eventgrid_push",
        {},
        [
            {
                "image": "demo.azurecr.io/aci-helloworld",
                "tag": "v1",
                "digest": "sha256:213bbc182920ab41e18edc2001e06abcca6735d87782d9cef68abd83941cf0e5",
            }
        ],
        "831e1650-001e-001b-66ab-eeb76e069631",
    ),
    # AWS's published sample digest is 60 hex digits: not a digest, so it is dropped, the tag kept
    (
        "ecr",
        "image_push",
        {},
        [
            {
                "image": "123456789012.dkr.ecr.us-west-2.amazonaws.com/my-repository-name",
                "tag": "latest",
                "digest": None,
                "pushed_at": "2019-11-16T01:54:34Z",
            }
        ],
        "13cde686-328b-6117-af20-0e5566167482",
    ),
    ("ecr", "image_delete", {}, "ignored: ECR DELETE SUCCESS", None),
    (
        "gar",
        "insert",
        {},
        [
            {
                "image": "us-east1-docker.pkg.dev/my-project/my-repo/hello-world",
                "tag": "1.1",
                "digest": "sha256:6ec128e26cd5a2b9f8b4f2e1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1",
                "source": "gar",
                "pushed_at": "2021-02-26T19:13:55.749Z",
            }
        ],
        "2070443601311540",
    ),
    ("gar", "delete", {}, "ignored: 'DELETE' is not an insert", "2070443601311541"),
    # pushed by digest: no tag, the digest alone (what a policy: digest rule follows)
    (
        "gar",
        "insert.digest_only",
        {},
        [
            {
                "image": "us-east1-docker.pkg.dev/my-project/my-repo/hello-world",
                "tag": None,
                "digest": "sha256:6ec128e26cd5a2b9f8b4f2e1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1",
                "pushed_at": "2021-02-26T19:14:02.118Z",
            }
        ],
        "2070443601311542",
    ),
    # un-enveloped: Pub/Sub payload unwrapping (metadata in headers) or a relay forwarding the data
    (
        "gar",
        "insert.unwrapped",
        {
            "x-goog-pubsub-message-id": "2070443601311543",
            "x-goog-pubsub-publish-time": "2021-02-26T19:15:11.204Z",
            "x-goog-pubsub-subscription-name": "projects/my-project/subscriptions/manifest-bot",
        },
        [
            {
                "image": "us-east1-docker.pkg.dev/my-project/my-repo/hello-world",
                "tag": "1.2",
                "digest": "sha256:6ec128e26cd5a2b9f8b4f2e1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1",
                "pushed_at": "2021-02-26T19:15:11.204Z",
            }
        ],
        "2070443601311543",
    ),
    (
        "gar",
        "insert.unwrapped.digest_only",
        {},
        [{"tag": None, "digest": "sha256:6ec128e26cd5a2b9f8b4f2e1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1"}],
        None,
    ),
    # --- CNCF Distribution (registry:2) notifications, recorded from docker-registry 2.8 ---------
    (
        "distribution",
        "manifest_push",
        {"content-type": "application/vnd.docker.distribution.events.v1+json"},
        [
            {
                "kind": "image-pushed",
                "image": "registry.example.com:5000/acme/api",
                "tag": "1.0.0",
                "digest": "sha256:9a6baf4a709ff18c6f243f5baa8a67400e3e03255d46720ce1878fa39ab85b26",
                "source": "distribution",
                "pushed_at": "2026-11-29T11:41:04.730456132Z",
            }
        ],
        "a7634a1a-429f-4327-af9d-5cdc70dafbd1",
    ),
    (
        "distribution",
        "several",
        {},
        [
            {"image": "registry.example.com:5000/acme/api", "tag": "1.0.0"},
            {
                "image": "registry.example.com:5000/acme/worker",
                "tag": "2.3.0",
                "digest": "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270",
            },
        ],
        None,
    ),
    (
        "distribution",
        "blob_push",
        {},
        "ignored: application/octet-stream to acme/api is not a manifest",
        None,
    ),
    ("distribution", "pull", {}, "ignored: pull of acme/api is not a push", None),
    ("distribution", "delete", {}, "ignored: delete of acme/api is not a push", None),
    (
        "artifactory",
        "docker_pushed",
        {},
        [
            {
                "image": "acme.jfrog.io/docker-local/acme/api",
                "tag": "1.4.2",
                "digest": "sha256:35c4a2c15539c6c1e4e5fa4e554dac323ad0107d8eb5c582d6ff386b383b7dce",
            }
        ],
        None,
    ),
    ("artifactory", "docker_deleted", {}, "ignored: 'deleted' is not a docker tag push", None),
    # as delivered: image_name is the last component, the path holds the rest (Kargo's recording)
    (
        "artifactory",
        "docker_pushed.nested_path",
        {},
        [
            {
                "image": "trial30g6c2.jfrog.io/test-repo/foo/bar/busybox",
                "tag": "latest",
                "digest": "sha256:2278daae78b8899e6c7192a8a6f49763b9e0cde6fcf94de34f115df4401b955f",
            }
        ],
        None,
    ),
    ("artifactory", "docker_pushed.self_hosted", {}, "ignored: without jpd_origin", None),
    (
        "artifactory",
        "docker_pushed.self_hosted",
        {"x-manifest-bot-registry": "artifactory.acme.internal:8443"},
        [
            {
                "image": "artifactory.acme.internal:8443/docker-myorg-local/myorg-tcd/myorg-tcd-frontend",
                "tag": "1.2.9",
                "digest": "sha256:b416d974092956b84d9f333ec6efcd579533a0ee07195de6257c315a67a32202",
            }
        ],
        None,
    ),
    (
        "artifactory",
        "oci_pushed",
        {},
        [{"kind": "image-pushed", "image": "oci://acme.jfrog.io/helm-oci/charts/api", "tag": "0.3.1"}],
        None,
    ),
    # --- CDEvents --------------------------------------------------------------------------------
    # without customData: what the spec provides (source, pipeline name, run id, outcome, url)
    (
        "cdevents",
        "pipelinerun_finished",
        {},
        [
            {
                "kind": "ci-finished",
                "forge": "cdevents",
                "repo": "/event/source/123",
                "sha": None,
                "branch": None,
                "tag": None,
                "status": "failure",
                "run_id": "mySubject123",
                "workflow": "myPipeline",
                "link": "https://www.example.com/mySubject123",
                "finished_at": "2023-03-20T14:27:05.315384Z",
            }
        ],
        "271069a8-fc18-44f1-b38f-9d70a1695819",
    ),
    (
        "cdevents",
        "pipelinerun_finished.custom_data",
        {},
        [
            {
                "kind": "ci-finished",
                "forge": "cdevents",
                "repo": "acme/api",
                "sha": "9fceb02d0ae598e95dc970b74767f19372d61af8",
                "branch": "main",
                "status": "success",
                "run_id": "build-api-run-77",
                "run_number": 77,
                "workflow": "build-api",
                "link": "https://tekton.example.com/#/pipelineruns/build-api-run-77",
            }
        ],
        "5328c37f-bb7e-4bb7-84ea-9f5f85e4a7ce",
    ),
    (
        "cdevents",
        "structured.pipelinerun_finished",
        {"content-type": "application/cloudevents+json; charset=utf-8"},
        [
            {
                "kind": "ci-finished",
                "repo": "acme/api",
                "sha": "1a410efbd13591db07496601ebc7a059dd55cfe9",
                "status": "failure",
            }
        ],
        "5328c37f-bb7e-4bb7-84ea-9f5f85e4a7ce",
    ),
    ("cdevents", "artifact_published", {}, "ignored: is not an OCI image", None),
    (
        "cdevents",
        "artifact_published.oci",
        {
            "ce-id": "binary-mode-id-1",
            "ce-type": "dev.cdevents.artifact.published.0.2.0",
            "ce-specversion": "1.0",
        },
        [
            {
                "image": "ghcr.io/acme/api",
                "tag": "1.4.2",
                "digest": "sha256:0b2d7c3f9e1a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e",
                "source": "cdevents",
            }
        ],
        "binary-mode-id-1",
    ),
    # --- generic ---------------------------------------------------------------------------------
    (
        "generic",
        "image",
        {"x-manifest-bot-delivery": "ci-run-99"},
        [
            {
                "image": "ghcr.io/acme/api",
                "tag": "1.4.2",
                "digest": "sha256:0b2d7c3f9e1a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e",
                "source": "generic",
            }
        ],
        "ci-run-99",
    ),
    (
        "generic",
        "inline_tag",
        {},
        [{"image": "registry.example.com:5000/team/worker", "tag": "2024.05.02-7", "digest": None}],
        None,
    ),
    # --- deployment reports: Flux notification-controller events, our Argo CD template ------------
    *[
        (
            "flux",
            name,
            {"gotk-component": "kustomize-controller"},
            [
                {
                    "kind": "deployment-reported",
                    "tool": "flux",
                    "object": "Kustomization/flux-system/apps-dev",
                    "revision": DEPLOYED,
                    "revision_label": label,
                    "health": health,
                    "reason": reason,
                    "at": at,
                }
            ],
            None,
        )
        for name, label, health, reason, at in [
            ("kustomization.succeeded", f"main@sha1:{DEPLOYED}", "healthy", "ReconciliationSucceeded",
             "2026-12-07T10:00:00Z"),
            ("kustomization.progressing", f"main@sha1:{DEPLOYED}", "progressing", "Progressing",
             "2026-12-07T10:01:00Z"),
            ("kustomization.healthcheckfailed", f"main@sha1:{DEPLOYED}", "failed", "HealthCheckFailed",
             "2026-12-07T10:05:00Z"),
            ("kustomization.legacy-revision", f"main/{DEPLOYED}", "healthy", "ReconciliationSucceeded",
             "2026-12-07T09:00:00Z"),
        ]
    ],
    *[
        (
            "argocd",
            name,
            {},
            [
                {
                    "kind": "deployment-reported",
                    "tool": "argocd",
                    "object": "shop-dev",
                    "revision": DEPLOYED,
                    "health": health,
                    "reason": reason,
                }
            ],
            None,
        )
        for name, health, reason in [
            ("sync-succeeded", "healthy", "SyncSucceeded"),
            ("health-degraded", "failed", "HealthDegraded"),
            ("sync-failed", "failed", "SyncFailed"),
        ]
    ],
]  # fmt: skip


def load(source: str, name: str) -> bytes:
    return (FIXTURES / source / f"{name}.json").read_bytes()


@pytest.mark.parametrize(
    ("source", "name", "headers", "expected", "delivery"), CASES, ids=[f"{c[0]}/{c[1]}" for c in CASES]
)
def test_fixture_parses_into_normalised_events(
    source: str, name: str, headers: dict[str, str], expected: Any, delivery: str | None
) -> None:
    result = sources.get(source).parse(headers, load(source, name))
    if isinstance(expected, str):
        assert result.events == ()
        assert result.ignored_reason is not None
        assert expected.removeprefix("ignored: ") in result.ignored_reason
    else:
        assert result.ignored_reason is None
        got = [event_to_dict(e) for e in result.events]
        assert len(got) == len(expected)
        for event, want in zip(got, expected, strict=True):
            assert {k: event[k] for k in want} == want
    if delivery is not None:
        assert result.delivery_id == delivery


def test_every_source_has_a_fixture_and_every_fixture_a_case() -> None:
    on_disk = {(p.parent.name, p.name.removesuffix(".json")) for p in FIXTURES.glob("*/*.json")}
    covered = {(c[0], c[1]) for c in CASES}
    assert on_disk == covered
    assert {source for source, _ in on_disk} == set(sources.NAMES)


@pytest.mark.parametrize(
    ("source", "name", "headers"), [(c[0], c[1], c[2]) for c in CASES if c[0] not in ("github",)]
)
def test_auto_detection_finds_the_sender(source: str, name: str, headers: dict[str, str]) -> None:
    assert sources.detect(headers, load(source, name)) == source


def test_github_is_detected_by_its_event_header() -> None:
    assert sources.detect(gh("push"), load("github", "push")) == "github"


def test_unreadable_registry_reference_is_ignored_with_a_reason_not_guessed() -> None:
    body = b'{"image": "ghcr.io/acme/api", "tag": "-bad tag"}'
    result = sources.get("generic").parse({}, body)
    assert result.events == ()
    assert "invalid tag" in (result.ignored_reason or "")


def test_repository_names_are_canonical_and_lower_case() -> None:
    body = b'{"image": "Docker.io/Library/NGINX", "tag": "1.27"}'
    (event,) = sources.get("generic").parse({}, body).events
    assert event_to_dict(event)["image"] == "docker.io/library/nginx"


def test_distribution_envelope_is_bounded_and_needs_events() -> None:
    event = json.loads(load("distribution", "manifest_push"))["events"][0]
    too_many = json.dumps({"events": [event] * 101}).encode()
    assert "more than 100" in (sources.get("distribution").parse({}, too_many).ignored_reason or "")
    assert sources.get("distribution").parse({}, b'{"events": []}').ignored_reason == (
        "notification envelope without events"
    )


def test_distribution_host_can_be_named_by_the_endpoint_header() -> None:
    headers = {"x-manifest-bot-registry": "registry.acme.dev"}
    (event,) = sources.get("distribution").parse(headers, load("distribution", "manifest_push")).events
    assert event_to_dict(event)["image"] == "registry.acme.dev/acme/api"


def test_cdevents_sink_reads_harbors_cdevent_too() -> None:
    headers = {"content-type": "application/cloudevents+json"}
    (event,) = sources.get("cdevents").parse(headers, load("harbor", "push_artifact.cdevents")).events
    assert event_to_dict(event)["image"] == "harbor.dev/library/busybox"
    assert event_to_dict(event)["source"] == "cdevents"

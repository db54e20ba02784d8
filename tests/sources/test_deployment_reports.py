"""Flux and Argo CD reports: what a malformed one is told, and how revisions are read."""

from __future__ import annotations

import json

import pytest

from bot import sources
from bot.core.deployments import revision_sha, short_revision
from bot.errors import BadPayload
from tests.sources.test_parse import DEPLOYED, load


def _flux(**change: object) -> bytes:
    data = json.loads(load("flux", "kustomization.succeeded"))
    for key, value in change.items():
        if key.startswith("involved_"):
            data["involvedObject"][key.removeprefix("involved_")] = value
        else:
            data[key] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"involvedObject": "apps-dev"}, "involvedObject"),
        ({"involved_name": None}, "involvedObject.name"),
        ({"severity": "warning"}, "severity"),
        ({"reason": 7}, "reason"),
        ({"timestamp": "yesterday"}, "timestamp"),
    ],
)
def test_a_malformed_flux_event_is_refused_naming_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(BadPayload, match=field):
        sources.get("flux").parse({}, _flux(**change))


@pytest.mark.parametrize("field", ["app", "syncStatus", "healthStatus", "finishedAt"])
def test_a_malformed_argocd_notification_is_refused_naming_the_field(field: str) -> None:
    data = json.loads(load("argocd", "sync-succeeded"))
    del data[field]
    with pytest.raises(BadPayload, match=field):
        sources.get("argocd").parse({}, json.dumps(data).encode())


def test_a_flux_trace_event_is_ignored_with_its_reason() -> None:
    result = sources.get("flux").parse({}, _flux(severity="trace", reason="DependencyNotReady"))
    assert result.events == ()
    assert result.ignored_reason is not None and "DependencyNotReady" in result.ignored_reason


@pytest.mark.parametrize(
    ("label", "sha", "short"),
    [
        (f"main@sha1:{DEPLOYED}", DEPLOYED, "main@1a2b3c4"),
        (f"main/{DEPLOYED}", DEPLOYED, "main@1a2b3c4"),
        (f"sha1:{DEPLOYED.upper()}", DEPLOYED, "1a2b3c4"),
        (DEPLOYED, DEPLOYED, "1a2b3c4"),
        ("latest@sha256:" + "ab" * 32, None, "latest@sha256:" + "ab" * 32),  # an OCI artifact digest
        ("6.1.2", None, "6.1.2"),  # a Helm chart version
        (None, None, "an unknown revision"),
    ],
)
def test_revisions_name_a_commit_only_when_they_do(label: str | None, sha: str | None, short: str) -> None:
    assert revision_sha(label) == sha
    assert short_revision(label, sha) == short

"""The contract tests never pass silently for lack of schemas: skipped with the reason outside CI
when npm is missing, failed in CI (``.ci/run`` exports ``CONTRACT_TESTS=required``)."""

from __future__ import annotations

import pytest

from tests.contracts import vendor


def test_missing_schemas_skip_outside_ci_and_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vendor, "_ready", lambda: "npm is not installed")
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("CONTRACT_TESTS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="npm is not installed"):
        vendor.path("openapi")
    monkeypatch.setenv("CONTRACT_TESTS", "required")
    with pytest.raises(pytest.fail.Exception, match="contract tests must run here"):
        vendor.path("openapi")


def test_the_installed_schemas_are_the_pinned_versions() -> None:
    vendor.path("openapi")
    assert vendor._installed_versions() == vendor._pinned_versions()
    assert vendor._pinned_versions() == {
        "@octokit/graphql-schema": "15.26.1",
        "@octokit/openapi": "23.0.2",
        "@octokit/openapi-webhooks": "12.1.0",
    }

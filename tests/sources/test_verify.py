"""Authentication of each source on the raw body: valid, invalid, missing, wrong algorithm, rotation."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from bot import sources
from bot.errors import SignatureError
from bot.sources.base import PATH_TOKEN, SIGNATURE_HEADER

BODY = b'{"image": "ghcr.io/acme/api", "tag": "1.0.0"}'
OLD, NEW = "old-secret-1234", "new-secret-5678"


def sign(secret: str, body: bytes = BODY) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


HMAC_HEADERS = {
    "github": "x-hub-signature-256",
    "generic": SIGNATURE_HEADER,
    "cdevents": SIGNATURE_HEADER,
    "flux": "x-signature",
}
TOKEN_SOURCES = [
    "dockerhub", "harbor", "quay", "acr", "ecr", "gar", "artifactory", "cdevents", "distribution", "argocd",
]  # fmt: skip


@pytest.mark.parametrize("source", sorted(HMAC_HEADERS))
def test_hmac_valid_with_either_rotated_secret(source: str) -> None:
    verify = sources.get(source).verify
    for secret in (OLD, NEW):
        verify({HMAC_HEADERS[source]: sign(secret)}, BODY, (OLD, NEW))


@pytest.mark.parametrize("source", sorted(HMAC_HEADERS))
def test_hmac_invalid_signature_or_altered_body_is_refused(source: str) -> None:
    verify = sources.get(source).verify
    with pytest.raises(SignatureError, match="does not match"):
        verify({HMAC_HEADERS[source]: sign("someone-else")}, BODY, (OLD, NEW))
    with pytest.raises(SignatureError, match="does not match"):
        verify({HMAC_HEADERS[source]: sign(NEW)}, BODY + b" ", (OLD, NEW))


@pytest.mark.parametrize("source", ["github", "generic"])
def test_hmac_missing_header_is_refused(source: str) -> None:
    with pytest.raises(SignatureError, match="missing"):
        sources.get(source).verify({}, BODY, (NEW,))


@pytest.mark.parametrize("source", sorted(HMAC_HEADERS))
def test_hmac_wrong_algorithm_is_refused(source: str) -> None:
    sha1 = "sha1=" + hmac.new(NEW.encode(), BODY, hashlib.sha1).hexdigest()
    with pytest.raises(SignatureError, match="sha256"):
        sources.get(source).verify({HMAC_HEADERS[source]: sha1}, BODY, (NEW,))


def test_github_sha1_only_signature_is_refused_by_name() -> None:
    sha1 = "sha1=" + hmac.new(NEW.encode(), BODY, hashlib.sha1).hexdigest()
    with pytest.raises(SignatureError, match="not SHA-1"):
        sources.get("github").verify({"x-hub-signature": sha1}, BODY, (NEW,))


@pytest.mark.parametrize("source", sources.NAMES)
def test_no_secret_configured_refuses_everything(source: str) -> None:
    headers = {PATH_TOKEN: NEW, "x-gitlab-token": NEW, HMAC_HEADERS.get(source, "x"): sign(NEW)}
    with pytest.raises(SignatureError, match="no secret configured"):
        sources.get(source).verify(headers, BODY, ())


@pytest.mark.parametrize("source", TOKEN_SOURCES)
@pytest.mark.parametrize(
    "headers",
    [
        {PATH_TOKEN: NEW},
        {"x-manifest-bot-token": OLD},
        {"authorization": f"Bearer {NEW}"},
        {"authorization": OLD},
    ],
    ids=["path", "header", "bearer", "raw-authorization"],
)
def test_token_sources_accept_a_configured_token_anywhere_offered(
    source: str, headers: dict[str, str]
) -> None:
    sources.get(source).verify(headers, BODY, (OLD, NEW))


@pytest.mark.parametrize("source", TOKEN_SOURCES)
def test_token_sources_refuse_wrong_or_missing_token(source: str) -> None:
    verify = sources.get(source).verify
    with pytest.raises(SignatureError, match="does not match"):
        verify({PATH_TOKEN: "guess"}, BODY, (OLD, NEW))
    with pytest.raises(SignatureError, match="missing"):
        verify({}, BODY, (OLD, NEW))


def test_a_token_prefix_of_the_secret_is_not_enough() -> None:
    with pytest.raises(SignatureError):
        sources.get("quay").verify({PATH_TOKEN: NEW[:-1]}, BODY, (NEW,))


def test_gitlab_token_header() -> None:
    verify = sources.get("gitlab").verify
    verify({"x-gitlab-token": OLD}, BODY, (OLD, NEW))
    with pytest.raises(SignatureError, match="does not match"):
        verify({"x-gitlab-token": "nope"}, BODY, (OLD, NEW))
    with pytest.raises(SignatureError, match="missing"):
        verify({PATH_TOKEN: NEW}, BODY, (NEW,))  # GitLab always sends its header; no path form


def test_artifactory_signed_payload_in_event_auth_header() -> None:
    verify = sources.get("artifactory").verify
    signed = hmac.new(NEW.encode(), BODY, hashlib.sha256).hexdigest()
    verify({"x-jfrog-event-auth": signed}, BODY, (OLD, NEW))
    verify({"x-jfrog-event-auth": NEW}, BODY, (OLD, NEW))  # unsigned mode sends the secret itself
    with pytest.raises(SignatureError):
        verify({"x-jfrog-event-auth": hmac.new(b"x", BODY, hashlib.sha256).hexdigest()}, BODY, (NEW,))


def test_generic_refuses_a_token_instead_of_a_signature() -> None:
    with pytest.raises(SignatureError, match="missing"):
        sources.get("generic").verify({PATH_TOKEN: NEW}, BODY, (NEW,))

"""CDEvents over CloudEvents (binary mode: ``ce-*`` headers + the CDEvent as body; structured
mode: ``application/cloudevents+json`` envelope). Auth: ``X-Manifest-Bot-Signature-256`` HMAC, or a
URL-path token for senders that cannot sign (Tekton, Keptn, …).

``pipelinerun.finished`` names no repository or commit in the spec. With ``customData``
(``repo``/``repository``, ``sha``/``commit``, ``branch``) it is a CI run of that repository and
commit. Without it we take what the spec provides: the run's ``source`` (``subject.source``, else
``context.source``) as ``repo``, ``pipelineName`` as the workflow, ``subject.id`` as ``run_id``, the
URL and outcome; ``sha``, ``branch`` and ``tag`` stay empty. Such a run matches ``ci`` rules with
``forge: cdevents``, ``repo: <the source>``, optional ``workflows`` and unrestricted ``branches``, and
a tag template of ``{run_id}`` or a fixed tag (``latest``) — ``{sha}`` and ``{branch}`` cannot be
filled and the rule is skipped with that reason.
``artifact.published`` with an OCI package URL (``pkg:oci/…?repository_url=…&tag=…``) is an image
push; Harbor's CDEvents format puts the whole reference in ``repository_url``
(``harbor.dev/library/busybox:v1.0@sha256:…``), which is read too.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote

from bot.core.events import CiFinished
from bot.errors import SignatureError
from bot.sources.base import (
    SIGNATURE_HEADER,
    Headers,
    ParseResult,
    check_hmac_sha256,
    check_token,
    ignored,
    image_pushed,
    images_result,
    integer,
    load_object,
    obj,
    require_secrets,
    split_reference,
    text,
    token_candidates,
)

NAME = "cdevents"
_OUTCOMES = {"success": "success", "failure": "failure", "error": "failure", "cancel": "cancelled"}


def verify(headers: Headers, body: bytes, secrets: tuple[str, ...]) -> None:
    require_secrets(secrets, NAME)
    if SIGNATURE_HEADER in headers:
        check_hmac_sha256(headers[SIGNATURE_HEADER], body, secrets, "X-Manifest-Bot-Signature-256")
        return
    candidates = list(token_candidates(headers))
    if not candidates:
        raise SignatureError("missing X-Manifest-Bot-Signature-256 header or URL-path token")
    check_token(candidates, secrets, "token")


def detect(headers: Headers, payload: Any) -> bool:
    if headers.get("ce-type", "").startswith("dev.cdevents."):
        return True
    if not isinstance(payload, dict):
        return False
    kind = text(payload, "type") or text(obj(payload, "context"), "type") or ""
    return kind.startswith("dev.cdevents.")


def parse(headers: Headers, body: bytes) -> ParseResult:
    return parse_object(headers, load_object(body))


def parse_object(headers: Headers, data: dict[str, Any], source: str = NAME) -> ParseResult:
    """A CDEvent (binary mode) or a structured CloudEvent carrying one (Harbor's CDEvents format);
    ``source`` names the sender on the events (``harbor`` when Harbor posted it)."""
    if "cloudevents+json" in headers.get("content-type", "").lower() or "specversion" in data:
        delivery, kind, event = text(data, "id"), text(data, "type"), obj(data, "data")
    else:
        event = data
        delivery = headers.get("ce-id") or text(obj(event, "context"), "id")
        kind = headers.get("ce-type") or text(obj(event, "context"), "type")
    parts = (kind or "").split(".")
    if len(parts) < 4 or parts[:2] != ["dev", "cdevents"]:
        return ignored(f"CloudEvent type {kind!r} is not a CDEvent", delivery)
    what = f"{parts[2]}.{parts[3]}"
    if what == "pipelinerun.finished":
        return _pipelinerun_finished(event, delivery)
    if what == "artifact.published":
        return _artifact_published(event, delivery, source)
    return ignored(f"CDEvent {what} is not used", delivery)


def _pipelinerun_finished(event: dict[str, Any], delivery: str | None) -> ParseResult:
    subject = obj(event, "subject")
    content, custom = obj(subject, "content"), obj(event, "customData")
    repo = text(custom, "repo") or text(custom, "repository")
    sha = text(custom, "sha") or text(custom, "commit")
    if not repo:  # the spec's own fields: routed by source and pipeline name (see the module doc)
        repo = text(subject, "source") or text(obj(event, "context"), "source")
        sha = None
    if not repo:
        return ignored("pipelinerun.finished names no source, and no customData.repo", delivery)
    outcome = text(content, "outcome") or ""
    status = _OUTCOMES.get(outcome)
    if status is None:
        return ignored(f"pipelinerun.finished with unknown outcome {outcome!r}", delivery)
    return ParseResult(
        (
            CiFinished(
                forge=NAME,
                repo=repo,
                sha=sha,
                branch=text(custom, "branch"),
                status=status,
                run_id=text(subject, "id"),
                run_number=integer(custom, "run_number"),
                workflow=text(content, "pipelineName"),
                link=text(content, "url") or text(content, "uri"),
                tag=text(custom, "tag"),
                finished_at=text(obj(event, "context"), "timestamp"),
            ),
        ),
        delivery,
    )


def _artifact_published(event: dict[str, Any], delivery: str | None, source: str) -> ParseResult:
    purl = text(obj(event, "subject"), "id") or ""
    if not purl.startswith("pkg:oci/"):
        return ignored(f"artifact {purl!r} is not an OCI image", delivery)
    path, _, query = purl[len("pkg:oci/") :].partition("?")
    _, _, version = path.partition("@")
    qualifiers = parse_qs(query)
    # Harbor writes the full reference there (host/path:tag@digest): split it, prefer the qualifiers
    repository, ref_tag, ref_digest = split_reference((qualifiers.get("repository_url") or [None])[0])
    tag = (qualifiers.get("tag") or [None])[0] or ref_tag
    digest = unquote(version) if version else ref_digest
    if not repository:
        return ignored(f"OCI package URL {purl!r} has no repository_url", delivery)
    published = text(obj(event, "context"), "timestamp")
    return images_result([image_pushed(repository, tag, digest, source, published)], delivery, "artifact")

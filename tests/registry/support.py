"""A real CNCF Distribution registry for tests: Debian's ``docker-registry`` on a free loopback port
with its storage in a temp dir, images pushed by ``skopeo`` from an OCI layout written here, and
optionally a token server so the registry wants ``Bearer`` tokens like Docker Hub or GHCR.

``.ci/run`` installs both tools (apt). Used by the registry client, CLI and bench tests, and meant
for end-to-end tests: ``notify_url`` makes the registry itself deliver its notifications.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import jwt
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

# the demo runs real registries too: one writer of OCI layouts, one port picker, one tools check
from bot.demo.processes import stop
from bot.demo.registry import OCI_MANIFEST, free_port, write_layout

START_TIMEOUT_S = 15.0


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# --- token server -------------------------------------------------------------------------------
@dataclass
class TokenIssuer:
    """A token endpoint as Docker Hub's works: ``GET /token?service=&scope=`` with optional HTTP basic
    credentials → ``{"token", "access_token", "expires_in", "issued_at"}``; wrong credentials → 401.
    Tokens are RS256 JWTs with an ``x5c`` chain the registry verifies against ``cert_path``."""

    workdir: Path
    username: str = "ci-bot"
    password: str = "s3cret-pass"
    service: str = "manifest-bot-test-registry"
    issuer: str = "manifest-bot-test-issuer"
    expires_in: int = 300
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "manifest-bot test token issuer")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = self.workdir / "token-cert.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.port = free_port()
        self.realm = f"http://127.0.0.1:{self.port}/token"

    def issue(self, scope: str | None, subject: str) -> str:
        access = []
        if scope:
            kind, name, actions = scope.split(":", 2)
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + self.expires_in,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        x5c = base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"x5c": [x5c]})

    def answer(self, path: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.requests.append({"query": query, "authorized": authorization is not None})
        if parts.path != "/token":
            return 404, {"details": "not found"}
        subject = ""
        if authorization:
            scheme, _, raw = authorization.partition(" ")
            user, _, secret = base64.b64decode(raw).decode().partition(":")
            if scheme.lower() != "basic" or (user, secret) != (self.username, self.password):
                return 401, {"details": "incorrect username or password"}
            subject = user
        elif "push" in query.get("scope", ""):
            return 401, {"details": "anonymous users may only pull"}
        token = self.issue(query.get("scope"), subject)
        issued = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 200, {
            "token": token,
            "access_token": token,
            "expires_in": self.expires_in,
            "issued_at": issued,
        }

    @contextmanager
    def serving(self) -> Iterator[TokenIssuer]:
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = issuer.answer(self.path, self.headers.get("Authorization"))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


# --- the registry -------------------------------------------------------------------------------
@dataclass
class LocalRegistry:
    host: str  # 127.0.0.1:<port>
    workdir: Path
    token: TokenIssuer | None = None
    _seeded: bool = False

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def image(self, repository: str) -> str:
        return f"{self.host}/{repository}"

    def push(
        self, repository: str, tag: str, content: bytes | None = None, labels: Mapping[str, str] | None = None
    ) -> str:
        """Push a fresh one-layer image as ``repository:tag`` with skopeo (its config carrying
        ``labels``); returns its digest."""
        layout = self.workdir / "layouts" / uuid.uuid4().hex
        digest = write_layout(layout, tag, content if content is not None else uuid.uuid4().bytes, labels)
        creds = ["--dest-creds", f"{self.token.username}:{self.token.password}"] if self.token else []
        subprocess.run(
            ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", *creds,
             f"oci:{layout}:{tag}", f"docker://{self.host}/{repository}:{tag}"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        shutil.rmtree(layout, ignore_errors=True)
        return digest

    def put(
        self,
        repository: str,
        tags: Iterable[str],
        content: bytes | None = None,
        *,
        session: requests.Session,
        created: str | None = None,
        annotations: Mapping[str, str] | None = None,
        platform: tuple[str, str] = ("linux", "amd64"),
    ) -> str:
        """Push one image with no layers as every tag of ``tags`` through the registry's HTTP API (a
        few requests, no skopeo: for many images); its config holds ``content`` when given (another
        digest), else it is one shared config mounted from a seed repository; ``created`` goes
        into its config, ``annotations`` onto its manifest. Anonymous registries only. Returns the
        manifest's digest."""
        if self.token is not None:
            raise AssertionError("put pushes to anonymous registries only (use push)")
        if created is not None or platform != ("linux", "amd64"):
            content = content if content is not None else uuid.uuid4().bytes
        blob = _config_blob(content, created, platform)
        digest = "sha256:" + hashlib.sha256(blob).hexdigest()
        uploads = f"{self.url}/v2/{repository}/blobs/uploads/"
        mounted = False
        if content is None:
            if not self._seeded:
                self._upload(_SEED, blob, digest, session)
                self._seeded = True
            mount = session.post(uploads, params={"mount": digest, "from": _SEED}, timeout=30)
            mounted = _ok(mount, f"mount into {repository}").status_code == 201
        if not mounted:
            self._upload(repository, blob, digest, session)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest, "size": len(blob)},
            "layers": [],
        }
        if annotations:
            manifest["annotations"] = dict(annotations)
        return self._put_manifest(repository, tags, manifest, OCI_MANIFEST, session)

    def put_index(
        self,
        repository: str,
        tag: str,
        images: Mapping[str, str],
        *,
        session: requests.Session,
        annotations: Mapping[str, str] | None = None,
    ) -> str:
        """Push an OCI image index as ``tag`` listing ``images`` (platform ``os/arch[/variant]`` →
        the digest of a manifest already in the repository, pushed by ``put`` with no tags); its
        digest."""
        entries = []
        for platform, digest in images.items():
            os_name, arch, *variant = platform.split("/")
            described = {"os": os_name, "architecture": arch, **({"variant": variant[0]} if variant else {})}
            raw = session.get(
                f"{self.url}/v2/{repository}/manifests/{digest}", headers={"Accept": OCI_MANIFEST}, timeout=30
            )
            raw.raise_for_status()
            entries.append(
                {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(raw.content), "platform": described}
            )
        index: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        if annotations:
            index["annotations"] = dict(annotations)
        return self._put_manifest(repository, [tag], index, OCI_INDEX, session)

    def _put_manifest(
        self,
        repository: str,
        tags: Iterable[str],
        manifest: dict[str, Any],
        media_type: str,
        session: requests.Session,
    ) -> str:
        body = json.dumps(manifest).encode()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        for tag in list(tags) or [digest]:  # no tag: pushed by its digest alone
            url = f"{self.url}/v2/{repository}/manifests/{tag}"
            _ok(session.put(url, data=body, headers={"Content-Type": media_type}, timeout=30), f"put {url}")
        return digest

    def put_chart(
        self, repository: str, version: str, *, session: requests.Session, sources: Sequence[str] = ()
    ) -> str:
        """Push a Helm chart as ``repository:version`` the way ``helm push`` stores one (an OCI manifest
        whose config is Helm's and whose one layer is the chart archive), over the registry's HTTP API;
        anonymous registries only. Returns the manifest's digest."""
        name = repository.rsplit("/", 1)[-1]
        chart: dict[str, object] = {"name": name, "version": version, "apiVersion": "v2"}
        if sources:
            chart["sources"] = list(sources)
        config = json.dumps(chart).encode()
        archive = gzip.compress(f"{name}-{version}".encode(), mtime=0)
        blobs = []
        for blob, media_type in ((config, HELM_CONFIG), (archive, HELM_CHART)):
            digest = "sha256:" + hashlib.sha256(blob).hexdigest()
            self._upload(repository, blob, digest, session)
            blobs.append({"mediaType": media_type, "digest": digest, "size": len(blob)})
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": blobs[0], "layers": blobs[1:]}
        body = json.dumps(manifest).encode()
        url = f"{self.url}/v2/{repository}/manifests/{version}"
        _ok(session.put(url, data=body, headers={"Content-Type": OCI_MANIFEST}, timeout=30), f"put {url}")
        return "sha256:" + hashlib.sha256(body).hexdigest()

    def _upload(self, repository: str, blob: bytes, digest: str, session: requests.Session) -> None:
        started = _ok(session.post(f"{self.url}/v2/{repository}/blobs/uploads/", timeout=30), "start upload")
        location = urljoin(self.url, started.headers["Location"])
        headers = {"Content-Type": "application/octet-stream"}
        put = session.put(location, params={"digest": digest}, data=blob, headers=headers, timeout=30)
        _ok(put, f"upload into {repository}")


OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


#: the repository ``LocalRegistry.put`` keeps its shared config blob in (mounted from there)
_SEED = "manifest-bot-seed/config"


def _config_blob(
    content: bytes | None, created: str | None = None, platform: tuple[str, str] = ("linux", "amd64")
) -> bytes:
    config: dict[str, Any] = {
        "architecture": platform[1],
        "os": platform[0],
        "rootfs": {"type": "layers", "diff_ids": []},
    }
    if content is not None:
        config["config"] = {"Labels": {"content": content.hex()}}
    if created is not None:
        config["created"] = created
    return json.dumps(config).encode()


def _ok(resp: requests.Response, what: str) -> requests.Response:
    if resp.status_code not in (201, 202):
        raise AssertionError(f"{what}: HTTP {resp.status_code} {resp.text[:300]}")
    return resp


def registry_config(
    workdir: Path,
    port: int,
    *,
    notify_url: str | None = None,
    notify_headers: Mapping[str, str] | None = None,
    token: TokenIssuer | None = None,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(workdir / "storage")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": uuid.uuid4().hex},
    }
    if notify_url:
        endpoint = {
            "name": "manifest-bot",
            "url": notify_url,
            "headers": {k: [v] for k, v in (notify_headers or {}).items()},
            "timeout": "2s",
            "threshold": 3,
            "backoff": "200ms",
        }
        config["notifications"] = {"endpoints": [endpoint]}
    if token is not None:
        config["auth"] = {
            "token": {
                "realm": token.realm,
                "service": token.service,
                "issuer": token.issuer,
                "rootcertbundle": str(token.cert_path),
            }
        }
    return config


@contextmanager
def run_registry(
    workdir: Path,
    *,
    notify_url: str | None = None,
    notify_headers: Mapping[str, str] | None = None,
    token: TokenIssuer | None = None,
) -> Iterator[LocalRegistry]:
    """``docker-registry serve`` on a free loopback port until the block ends."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = registry_config(workdir, port, notify_url=notify_url, notify_headers=notify_headers, token=token)
    config_path = workdir / "config.yml"
    config_path.write_text(json.dumps(config))  # JSON is YAML
    log = (workdir / "registry.log").open("wb")
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(config_path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "OTEL_TRACES_EXPORTER": "none"},
    )
    registry = LocalRegistry(f"127.0.0.1:{port}", workdir, token)
    try:
        wait_for(lambda: _answers(registry, proc, workdir), START_TIMEOUT_S, "docker-registry to listen")
        yield registry
    finally:
        stop(proc)
        log.close()


def _answers(registry: LocalRegistry, proc: subprocess.Popen[bytes], workdir: Path) -> bool:
    if proc.poll() is not None:
        log = (workdir / "registry.log").read_text(errors="replace")[-2000:]
        raise AssertionError(f"docker-registry exited with {proc.returncode}:\n{log}")
    try:
        return requests.get(f"{registry.url}/v2/", timeout=1).status_code in (200, 401)
    except requests.RequestException:
        return False


# --- a webhook receiver the registry can post to ------------------------------------------------
@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, list[Received]]]:
    """A local HTTP endpoint recording every POST (headers with lower-case names, raw body)."""
    received: list[Received] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhooks/distribution", received
    finally:
        server.shutdown()
        server.server_close()

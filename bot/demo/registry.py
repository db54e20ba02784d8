"""The demo's real registries: Debian's ``docker-registry`` (CNCF Distribution) on free loopback
ports, storage in the demo's temporary directory, images pushed by ``skopeo`` from OCI layouts
written here (one small layer, a config, a manifest, ``index.json``).

One registry stands in for ``registry.example.com`` and delivers its own notifications to the
demo's web app (``/webhooks/distribution``, with the token and the name the bot should use in
headers), another for ``ghcr.io``; the bot reaches both through ``MANIFEST_BOT_REGISTRY_ENDPOINTS``.
Without the tools the demo runs on signed sample webhooks alone and says how to get them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import socket
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.demo.processes import stop

TOOLS = ("docker-registry", "skopeo")
INSTALL_HINT = "apt-get install docker-registry skopeo"
START_DEADLINE_S = 15.0
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def _blob(root: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def write_layout(root: Path, tag: str, content: bytes, labels: Mapping[str, str] | None = None) -> str:
    """An OCI image layout at ``root`` holding one image tagged ``tag`` whose only layer is a file
    with ``content`` (its config carrying ``labels`` when given); returns the manifest's digest
    (what the registry will answer for the tag)."""
    (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as archive:
        info = tarfile.TarInfo("app.txt")
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    layer = _blob(root, gzip.compress(tar.getvalue(), mtime=0))
    diff_id = "sha256:" + hashlib.sha256(tar.getvalue()).hexdigest()
    config: dict[str, object] = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    if labels:
        config["config"] = {"Labels": dict(labels)}
    config_blob = _blob(root, json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_blob},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
    }
    described = _blob(root, json.dumps(manifest).encode())
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    ref = {"org.opencontainers.image.ref.name": tag}
    index = {"schemaVersion": 2, "manifests": [{"mediaType": OCI_MANIFEST, **described, "annotations": ref}]}
    (root / "index.json").write_text(json.dumps(index))
    return str(described["digest"])


@dataclass
class DemoRegistry:
    name: str  # what images call it: registry.example.com
    host: str  # where it listens: 127.0.0.1:<port>
    workdir: Path
    pushes: int = 0

    def image(self, repository: str) -> str:
        return f"{self.name}/{repository}"

    def push(self, repository: str, tag: str, labels: Mapping[str, str] | None = None) -> str:
        """Push a fresh one-layer image as ``repository:tag`` with skopeo (its config carrying
        ``labels``); its digest."""
        layout = self.workdir / "layouts" / uuid.uuid4().hex
        digest = write_layout(layout, tag, f"{repository}:{tag} {uuid.uuid4()}\n".encode(), labels)
        command = [
            "skopeo", "copy", "--quiet", "--dest-tls-verify=false",
            f"oci:{layout}:{tag}", f"docker://{self.host}/{repository}:{tag}",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        shutil.rmtree(layout, ignore_errors=True)
        if result.returncode != 0:
            raise RuntimeError(f"skopeo could not push {repository}:{tag}: {result.stderr.strip()[-500:]}")
        self.pushes += 1
        return digest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(
    workdir: Path, port: int, notify_url: str | None, headers: Mapping[str, str]
) -> dict[str, object]:
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(workdir / "storage")}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": uuid.uuid4().hex},
    }
    if notify_url:
        endpoint = {
            "name": "manifest-bot",
            "url": notify_url,
            "headers": {k: [v] for k, v in headers.items()},
            "timeout": "2s",
            "threshold": 3,
            "backoff": "200ms",
            "ignoredmediatypes": ["application/octet-stream"],  # blob pushes: nothing to act on
        }
        config["notifications"] = {"endpoints": [endpoint]}
    return config


def _answers(host: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}/v2/", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def running_registry(
    workdir: Path,
    name: str,
    port: int,
    *,
    notify_url: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Iterator[DemoRegistry]:
    """``docker-registry serve`` on 127.0.0.1:``port``, standing in for registry ``name``, until the
    block ends (the port is chosen first: the bot's settings name it before the registry starts)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "config.yml"
    config_path.write_text(json.dumps(_config(workdir, port, notify_url, headers or {})))  # JSON is YAML
    with (workdir / "registry.log").open("wb") as log:
        proc = subprocess.Popen(
            ["docker-registry", "serve", str(config_path)], stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        try:
            _wait_listening(proc, f"127.0.0.1:{port}", workdir)
            yield DemoRegistry(name, f"127.0.0.1:{port}", workdir)
        finally:
            stop(proc)


def _wait_listening(proc: subprocess.Popen[bytes], host: str, workdir: Path) -> None:
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if _answers(host):
            return
        time.sleep(0.02)  # a child process starting up: nothing to wait on but its port
    tail = (workdir / "registry.log").read_text(errors="replace")[-1000:]
    raise RuntimeError(f"docker-registry did not start on {host}:\n{tail}")

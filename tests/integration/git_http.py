"""A git smart-HTTP remote for the tests: ``git http-backend`` behind a small threaded HTTP
server that wants Basic credentials, and whose behaviour a test switches to make faults happen:

- ``ok``: pushes and fetches work (credentials checked);
- ``unauthorized``: every request answers 401, as a remote with a revoked token does;
- ``hang``: requests are accepted and never answered (the client's timeout must end them);
- ``error``: the remote answers with a git ``ERR`` packet carrying ``error_message`` (git prints
  ``fatal: remote error: <message>``), as hosting services do for a blocked or suspended repo;
- a repository's pre-receive hook declines every push with a message (``reject_with``).
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

HOOK = """#!/bin/sh
if [ -f "$GIT_DIR/reject" ]; then
  cat "$GIT_DIR/reject" >&2
  exit 1
fi
exit 0
"""


class GitHttpRemote:
    def __init__(self, root: Path, user: str, password: str) -> None:
        self.root = root
        self.user, self.password = user, password
        self.mode = "ok"
        self.error_message = "repository is read-only"
        self.released = threading.Event()  # set to let hanging requests go (at the end of a test)
        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- set-up --------------------------------------------------------------------------------
    def add_repo(self, name: str, source: Path) -> Path:
        """A bare copy of ``source`` served as ``<name>.git``, with the switchable hook."""
        path = self.root / f"{name}.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(source), str(path)], check=True)
        hook = path / "hooks" / "pre-receive"
        hook.write_text(HOOK)
        hook.chmod(0o755)
        return path

    def url(self, name: str) -> str:
        user, password = quote(self.user, safe=""), quote(self.password, safe="")
        return f"http://{user}:{password}@127.0.0.1:{self._server.server_port}/{name}.git"

    def reject_with(self, name: str, message: str | None) -> None:
        """Make (or stop making, ``None``) the repository's pre-receive hook decline with ``message``."""
        flag = self.root / f"{name}.git" / "reject"
        if message is None:
            flag.unlink(missing_ok=True)
        else:
            flag.write_text(message + "\n")

    def __enter__(self) -> GitHttpRemote:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()


def _handler(remote: GitHttpRemote) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"{remote.user}:{remote.password}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            remote.requests += 1
            body = self._body()
            if remote.mode == "hang":
                remote.released.wait(60)
                return
            if remote.mode == "unauthorized" or self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if remote.mode == "error":
                self._git_error(remote.error_message)
                return
            self._backend(body)

        def _git_error(self, message: str) -> None:
            service = "git-receive-pack" if "git-receive-pack" in self.path else "git-upload-pack"

            def pkt(text: str) -> bytes:
                data = text.encode()
                return f"{len(data) + 4:04x}".encode() + data

            payload = pkt(f"# service={service}\n") + b"0000" + pkt(f"ERR {message}\n")
            self.send_response(200)
            self.send_header("Content-Type", f"application/x-{service}-advertisement")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _backend(self, body: bytes) -> None:
            path, _, query = self.path.partition("?")
            env = {
                **os.environ,
                "GIT_PROJECT_ROOT": str(remote.root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "GIT_CONFIG_NOSYSTEM": "1",
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "REQUEST_METHOD": self.command,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_USER": remote.user,
                "REMOTE_ADDR": "127.0.0.1",
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            }
            backend = ["git", "http-backend"]
            proc = subprocess.run(backend, input=body, env=env, capture_output=True, check=False)
            head, _, payload = proc.stdout.partition(b"\r\n\r\n")
            if not _:
                head, _, payload = proc.stdout.partition(b"\n\n")
            status, headers = 200, []
            for line in head.decode("latin-1").splitlines():
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                elif name:
                    headers.append((name, value.strip()))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler

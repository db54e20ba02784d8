"""The demo's helper processes (a private redis-server, docker-registry): stopping one."""

from __future__ import annotations

import subprocess

#: how long a helper process gets to exit after SIGTERM, then again after SIGKILL
STOP_TIMEOUT_S = 10.0


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate ``proc`` and reap it; kill it if it does not exit within ``STOP_TIMEOUT_S``."""
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT_S)

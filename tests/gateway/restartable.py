"""An inference-server stand-in in its own process, so a test can SIGKILL and restart it.

A thread can be stopped but not killed: only a separate process shows what the gateway
sees when an instance dies (its kept-alive connections end, new ones are refused) and
then comes back on the same port still loading its model (503 ``MODEL_NOT_READY``, as
``mlkube.server.app`` answers). Run as::

    python tests/gateway/restartable.py PORT NAME LOADING_S
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

NOT_READY = (b'{"error": "The model is still loading.", "error_code": "MODEL_NOT_READY", '
             b'"message": "The model is still loading.", '
             b'"hint": "Retry when GET /ready answers 200."}')


class RestartableUpstream:
    """One instance on a fixed port: ``start``, ``kill`` (SIGKILL), ``start`` again."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, loading_s: float = 0.0) -> RestartableUpstream:
        """Start the process; it answers 503 MODEL_NOT_READY for its first ``loading_s``."""
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__)), str(self.port), self.name, str(loading_s)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while not _accepts(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"upstream {self.name} did not start on {self.port}")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _app(name: str, loading_s: float) -> Any:
    ready_at = time.monotonic() + loading_s
    answer = f'{{"instance": "{name}", "pid": {os.getpid()}}}'.encode()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        status, body = (200, answer) if time.monotonic() >= ready_at else (503, NOT_READY)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return app


if __name__ == "__main__":
    import uvicorn

    port, name, loading = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    uvicorn.run(_app(name, loading), host="127.0.0.1", port=port, log_level="warning",
                http="httptools", loop="asyncio", lifespan="off", access_log=False)

"""The native (Go) gateway engine in the gateway tests: which engine runs, its binary,
and a handle that starts it as a real subprocess on the same files.

``MLKUBE_GATEWAY_ENGINE=native`` makes the ``gateway`` fixture start ``mlkube-gateway``
(built from ``gateway-native/`` with ``go build`` as ``make install`` builds it,
statically linked, cached by source digest under
``~/.cache/mlkube/gateway-native``) instead of serving the Python app in-process (the
default here; ``make test`` runs this folder once more with ``native``). Tests of the
Python modules themselves (and of the Python-only `mlkube gateway check`) are marked
``python_only`` with the reason: under the native engine they are deselected, so what
passes there is the engine.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlkube.http_limits import HttpLimits

ENGINE = os.environ.get("MLKUBE_GATEWAY_ENGINE", "python")
if ENGINE not in ("python", "native"):
    raise pytest.UsageError(f"MLKUBE_GATEWAY_ENGINE is {ENGINE!r}, not 'python' or 'native'")
NATIVE = ENGINE == "native"
SOURCE = Path(__file__).resolve().parents[2] / "gateway-native"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlkube" / "gateway-native"


def python_only(reason: str) -> pytest.MarkDecorator:
    """The test is of the Python gateway's own modules (``reason`` says which): a run
    against the native engine leaves it out (``deselect_python_only``), since there it
    would test nothing of the engine that runs."""
    return pytest.mark.python_only(reason)


def deselect_python_only(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under the native engine, drop the tests marked ``python_only`` from the run."""
    if not NATIVE:
        return
    dropped = [item for item in items if item.get_closest_marker("python_only")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker("python_only")]


def source_digest() -> str:
    """A hash of the Go module's sources: the binary is rebuilt when one changes."""
    digest = hashlib.sha256()
    for path in sorted(SOURCE.rglob("*")):
        if path.is_file() and (path.suffix == ".go" or path.name in ("go.mod", "go.sum")):
            digest.update(str(path.relative_to(SOURCE)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def native_binary() -> Path:
    """The ``mlkube-gateway`` binary of these sources, built once per source digest."""
    binary = CACHE / f"{source_digest()}-static" / "mlkube-gateway"
    if binary.exists():
        return binary
    go = shutil.which("go")
    if go is None:
        raise pytest.UsageError("MLKUBE_GATEWAY_ENGINE=native needs the Go toolchain (`go`) "
                                "on PATH to build gateway-native/.")
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_suffix(".partial")
    # As `make install` builds it: statically linked, so it is also what a gateway image
    # may carry (``gateway.engine.image_binary``).
    result = subprocess.run([go, "build", "-trimpath", "-o", str(partial),
                             "./cmd/mlkube-gateway"], cwd=SOURCE, capture_output=True,
                            text=True, timeout=600, env={**os.environ, "CGO_ENABLED": "0"})
    if result.returncode != 0:
        raise pytest.UsageError(f"go build of gateway-native/ failed:\n{result.stderr}")
    partial.replace(binary)
    return binary


class CapturedText:
    """A process's stderr as it arrives, read like ``io.StringIO.getvalue``."""

    def __init__(self, stream: Any) -> None:
        self._chunks: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in iter(stream.readline, b""):
            with self._lock:
                self._chunks.append(line.decode("utf-8", "replace"))

    def getvalue(self) -> str:
        with self._lock:
            return "".join(self._chunks)


class NativeProcess:
    """``mlkube-gateway`` serving ``config_path`` with ``keys_path`` on a free port."""

    def __init__(self, config_path: Path, keys_path: Path, *, limits: HttpLimits | None,
                 max_body_bytes: int | None = None,
                 instance_cool_down_s: float | None = None) -> None:
        args = [str(native_binary()), "--config", str(config_path), "--keys", str(keys_path),
                "--port", "0", "--reload-interval", "0.05", "--log-level", "debug"]
        if limits is not None:
            args += ["--max-header-kb", str(max(1, limits.max_head_bytes // 1024)),
                     "--header-timeout", str(limits.head_timeout_s),
                     "--max-connections", str(limits.max_connections)]
        if max_body_bytes is not None:
            args += ["--max-body-bytes", str(max_body_bytes)]
        if instance_cool_down_s is not None:
            args += ["--instance-cool-down", str(instance_cool_down_s)]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.output = CapturedText(self.process.stderr)
        self.url = self._wait_for_address()

    def _wait_for_address(self) -> str:
        from tests.gateway.servers import wait_until

        def address() -> str | None:
            if self.process.poll() is not None:
                raise AssertionError("mlkube-gateway exited: " + self.output.getvalue()[-2000:])
            found = re.search(r"Listening on (http://\S+)", self.output.getvalue())
            return found.group(1) if found else None

        return str(wait_until(address, what="mlkube-gateway to listen", timeout=10))

    def stop(self) -> None:
        """Stop the process; a panic (or a race a -race build found) fails the test."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        output = self.output.getvalue()
        for sign in ("panic:", "WARNING: DATA RACE", "fatal error:"):
            if sign in output:
                start = output.index(sign)
                raise AssertionError(f"mlkube-gateway failed: {output[start:start + 3000]}")


def server_connections(url: str) -> int:
    """Open connections on the server side of ``url``'s port, as the kernel lists them
    (accepted or waiting to be, and ones the client closed that the server has not)."""
    port = int(url.rsplit(":", 1)[1])
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        if local_port == port and fields[3] in ("01", "08"):  # ESTABLISHED, CLOSE_WAIT
            count += 1
    return count


def mirrors_in_flight(url: str) -> int:
    """Mirrored copies the native gateway has not finished (its /metrics gauge)."""
    text = httpx.get(url + "/metrics").text
    found = re.search(r"^mlkube_gateway_mirrors_in_flight (\d+)$", text, re.MULTILINE)
    assert found, "the native gateway reports mlkube_gateway_mirrors_in_flight"
    return int(found.group(1))


__all__ = ["ENGINE", "NATIVE", "NativeProcess", "mirrors_in_flight", "native_binary",
           "deselect_python_only", "python_only", "server_connections"]

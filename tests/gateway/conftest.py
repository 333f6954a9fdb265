"""Fixtures: recording upstream servers and real gateways, all on 127.0.0.1.

The gateway is the Python app served in-process, or with ``MLKUBE_GATEWAY_ENGINE=native``
the Go binary as a subprocess on the same files (``tests/gateway/native.py``)."""

from __future__ import annotations

import io
import json
import os
import random
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlkube.gateway import EndpointKeys, dump_endpoint_keys, generate_keys, load_gateway_config
from mlkube.gateway.app import Gateway, create_app
from mlkube.gateway.serving import uvicorn_options
from mlkube.http_limits import HttpLimits
from tests.gateway.native import (
    NATIVE,
    NativeProcess,
    deselect_python_only,
    mirrors_in_flight,
    server_connections,
)
from tests.gateway.servers import RecordingUpstream, ThreadedServer, wait_until


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    deselect_python_only(config, items)


class GatewayHandle:
    """A running gateway, served as `mlkube gateway run` serves it (``limits`` its HTTP
    limits), its files, and an HTTP client holding a valid key."""

    def __init__(self, folder: Path, config: dict[str, Any], *, seed: int | None,
                 limits: HttpLimits | None = None, keys_mode: int = 0o600,
                 **options: Any) -> None:
        self.config_path = folder / "gateway.json"
        self.keys_path = folder / "keys.json"
        self.keys = generate_keys()
        self.write_keys(self.keys, mode=keys_mode)
        self.write_config(config)
        self.native: NativeProcess | None = None
        if NATIVE:
            # The seed is not passed: the Go engine draws from its own source, so no test
            # may depend on a particular sequence of draws.
            self.native = NativeProcess(self.config_path, self.keys_path, limits=limits,
                                        **options)
            self.access_log: Any = self.native.output
            self.url = self.native.url
        else:
            draw = random.Random(seed).random if seed is not None else random.random
            self.access_log = io.StringIO()
            self.app: Gateway = create_app(config_path=self.config_path,
                                           keys_path=self.keys_path, reload_interval_s=0.05,
                                           draw=draw, access_log_stream=self.access_log,
                                           **options)
            serving = uvicorn_options(limits or HttpLimits())
            serving.pop("timeout_graceful_shutdown")
            self.server = ThreadedServer(self.app, **serving).start()
            self.url = self.server.url
        self.client = httpx.Client(base_url=self.url, timeout=10,
                                   headers={"Authorization": f"Bearer {self.keys.primary_key}"})

    def write_config(self, config: dict[str, Any]) -> str:
        """Write a config as a target does (atomic rename); return its digest."""
        text = json.dumps(config)
        _write_atomically(self.config_path, text)
        return load_gateway_config(text).digest if _parses(text) else ""

    def write_keys(self, keys: EndpointKeys, *, mode: int = 0o600) -> None:
        _write_atomically(self.keys_path, dump_endpoint_keys(keys), mode=mode)

    def wait_for_digest(self, digest: str) -> None:
        wait_until(lambda: httpx.get(self.url + "/").json()["config_digest"] == digest,
                   what=f"the gateway to serve config {digest}")

    @property
    def digest(self) -> str:
        """The digest of the config file as the Python side computes it."""
        return load_gateway_config(self.config_path.read_text()).digest

    def mirrors_in_flight(self) -> int:
        """Mirrored copies sent and not yet answered."""
        if self.native is not None:
            return mirrors_in_flight(self.url)
        return len(self.app._mirrors)

    def open_connections(self) -> int:
        """Client connections the gateway holds open now."""
        if self.native is not None:
            return server_connections(self.url)
        return len(self.server.server.server_state.connections)

    def log_text(self, caplog: pytest.LogCaptureFixture) -> str:
        """The gateway's own log: caught by caplog in-process, else the process's stderr."""
        return self.native.output.getvalue() if self.native is not None else caplog.text

    def score(self, **kwargs: Any) -> httpx.Response:
        return self.client.post("/score", json={"data": [[1, 2, 3, 4]]}, **kwargs)

    def stop(self) -> None:
        self.client.close()
        if self.native is not None:
            self.native.stop()
        else:
            self.server.stop()


def deployment(*upstreams: RecordingUpstream | str, **settings: Any) -> dict[str, Any]:
    """A deployment entry of a gateway config with these instances."""
    urls = [u if isinstance(u, str) else u.url for u in upstreams]
    return {"instances": urls, **settings}


def dead_url() -> str:
    """A URL where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def upstream() -> Iterator[Callable[[str], RecordingUpstream]]:
    """Start a recording upstream named after a deployment: ``upstream("blue")``."""
    servers: list[ThreadedServer] = []

    def start(name: str) -> RecordingUpstream:
        app = RecordingUpstream(name)
        server = ThreadedServer(app).start()
        servers.append(server)
        app.url = server.url  # type: ignore[attr-defined]
        return app

    yield start
    for server in servers:
        server.server.should_exit = True
    for server in servers:
        server.stop()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Callable[..., GatewayHandle]]:
    """Start a gateway for a config dict: ``gateway(config, seed=1)``."""
    handles: list[GatewayHandle] = []

    def start(config: dict[str, Any], *, seed: int | None = 7, **options: Any) -> GatewayHandle:
        folder = tmp_path / f"gw{len(handles)}"
        folder.mkdir()
        handle = GatewayHandle(folder, config, seed=seed, **options)
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()


def _parses(text: str) -> bool:
    try:
        load_gateway_config(text)
    except Exception:
        return False
    return True


def _write_atomically(path: Path, text: str, *, mode: int = 0o644) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)

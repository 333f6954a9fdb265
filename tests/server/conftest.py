"""Real inference servers on free 127.0.0.1 ports, started once per session.

In-process servers run uvicorn in a thread (as httpx's own tests do); the CLI tests
start ``mlkube serve`` as a subprocess. Every wait polls with a deadline.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from mlkube.server.app import create_app
from mlkube.server.scorers import make_scorer
from mlkube.server.settings import ServerSettings
from tests.models import SEED_SCORE_PY
from tests.processes import stop_process

SCRIPTS = Path(__file__).parent / "scripts"
SEED_SCORE = SEED_SCORE_PY


class RunningServer:
    """A server in a thread: its URL, its app, and a way to stop it."""

    def __init__(self, settings: ServerSettings) -> None:
        self.app = create_app(make_scorer(settings), settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, lifespan="on",
                                access_log=False, log_level="warning", loop="asyncio")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.server.started, what="uvicorn start")
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def wait_loaded(self, timeout: float = 60) -> RunningServer:
        wait_until(lambda: self.app.state.ready or self.app.state.error is not None,
                   timeout=timeout, what="model load")
        return self

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=10)


def wait_until(condition: Callable[[], object], *, timeout: float = 30,
               what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def start_server() -> Iterator[Callable[..., RunningServer]]:
    """Factory: ``start_server(model_dir=..., entry_script=..., **settings)``."""
    servers: list[RunningServer] = []

    def start(**settings: object) -> RunningServer:
        server = RunningServer(ServerSettings(**settings)).wait_loaded()  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def iris_server(start_server, iris_lgbm_model_root) -> RunningServer:
    return start_server(model_dir=str(iris_lgbm_model_root))


@pytest.fixture(scope="session")
def sklearn_server(start_server, sklearn_columns_model_root) -> RunningServer:
    return start_server(model_dir=str(sklearn_columns_model_root))


@pytest.fixture(scope="session")
def tensor_server(start_server, tensor_pyfunc_model_root) -> RunningServer:
    return start_server(model_dir=str(tensor_pyfunc_model_root))


@pytest.fixture(scope="session")
def seed_server(start_server, iris_lgbm_model_root) -> RunningServer:
    """The seed's score.py, unchanged, in entry-script mode."""
    return start_server(model_dir=str(iris_lgbm_model_root), entry_script=str(SEED_SCORE))


@pytest.fixture(scope="session")
def script_server(start_server) -> Callable[..., RunningServer]:
    """Factory: a server running ``tests/server/scripts/<name>``."""
    cache: dict[tuple[str, tuple], RunningServer] = {}

    def start(name: str, **settings: object) -> RunningServer:
        key = (name, tuple(sorted(settings.items())))
        if key not in cache:
            cache[key] = start_server(entry_script=str(SCRIPTS / name), app_root=str(SCRIPTS),
                                      **settings)
        return cache[key]

    return start


class ServeProcess:
    """``mlkube serve`` (or another command) as a subprocess on a free port."""

    def __init__(self, args: list[str], *, env: dict[str, str], port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log
        self._log = open(log, "wb")
        self.process = subprocess.Popen(args, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 90) -> ServeProcess:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log()}")
            try:
                return httpx.get(self.url + "/ready", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=timeout, what=f"{self.url}/ready")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process, timeout=15)
        self._log.close()


@pytest.fixture(scope="module")
def serve_process(tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[Callable[..., ServeProcess]]:
    """Factory: ``serve_process(args, env=...)`` runs ``mlkube args`` (or ``command``)
    with a clean environment plus ``env`` and a free ``SERVER_PORT``."""
    started: list[ServeProcess] = []
    logs = tmp_path_factory.mktemp("serve-logs")
    bin_dir = str(Path(sys.executable).parent)

    def start(args: list[str], *, env: dict[str, str] | None = None,
              command: str = "mlkube") -> ServeProcess:
        port = free_port()
        full_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("AZUREML_", "AML_", "MLKUBE_", "SERVER_PORT",
                                         "WORKER_COUNT"))}
        full_env.update(env or {})
        full_env["SERVER_PORT"] = str(port)
        exe = shutil.which(command, path=bin_dir) or command
        process = ServeProcess([exe, *args], env=full_env, port=port,
                               log=logs / f"serve-{len(started)}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()

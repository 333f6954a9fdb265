"""The CLI against a workspace on a real MLflow tracking server (``mlflow server``)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

MLFLOW = str(Path(sys.executable).parent / "mlflow")
MLKUBE = str(Path(sys.executable).parent / "mlkube")


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("mlflow-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [MLFLOW, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{folder}/mlflow.db",
         "--artifacts-destination", str(folder / "artifacts")],
        stdout=subprocess.DEVNULL, stderr=open(folder / "server.log", "wb"), cwd=folder)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2, trust_env=False).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("mlflow server did not start:\n" + (folder / "server.log").read_text())
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_json_output_is_pure_json_when_the_workspace_is_a_tracking_server(
        tracking_server: str, iris_lgbm_model_root: Path, tmp_path: Path):
    env = {**os.environ, "MLKUBE_TRACKING_URI": tracking_server,
           "MLKUBE_WORKSPACE": str(tmp_path / "ws")}
    env.pop("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", None)
    result = subprocess.run(
        [MLKUBE, "model", "create", "-n", "iris-remote", "-p",
         str(iris_lgbm_model_root / "model"), "-t", "mlflow_model", "-o", "json"],
        env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    assert "View run" not in result.stdout
    assert json.loads(result.stdout)["version"] == "1"

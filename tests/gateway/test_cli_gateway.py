"""`mlkube gateway run` as every target starts it, in front of a real `mlkube serve`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mlkube.gateway import (
    DeploymentRoute,
    GatewayConfig,
    dump_endpoint_keys,
    dump_gateway_config,
    generate_keys,
)
from mlkube.gateway.engine import ENGINE_VARIABLE
from mlkube.gateway.engine import native_binary as installed_binary
from tests.gateway.conftest import dead_url
from tests.gateway.native import NATIVE, native_binary, python_only
from tests.gateway.raw_client import connect, read_response
from tests.gateway.servers import wait_until

MLKUBE = [sys.executable, "-c", "from mlkube.cli.main import main; main()"]


def _gateway_run() -> list[str]:
    """`mlkube gateway run`, or the native engine's binary, which takes the same flags."""
    return [str(native_binary())] if NATIVE else [*MLKUBE, "gateway", "run"]


def _free_port() -> int:
    return int(dead_url().rsplit(":", 1)[1])


def _engine_env(**env: str) -> dict[str, str]:
    """The environment of a process here: under the Python engine `mlkube gateway run`
    is told to serve with Python (else it hands over to the native binary, where one is
    installed, and this run would test that instead)."""
    return {**os.environ, **({} if NATIVE else {ENGINE_VARIABLE: "python"}), **env}


def _start(args: list[str], log: Path, **env: str) -> subprocess.Popen:
    argv = [*_gateway_run(), *args[2:]] if args[:2] == ["gateway", "run"] else [*MLKUBE, *args]
    return subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env=_engine_env(**env))


@pytest.fixture(scope="module")
def served_endpoint(iris_lgbm_model_root: Path, tmp_path_factory) -> Iterator[dict]:
    """The iris model behind `mlkube serve`, behind `mlkube gateway run`."""
    folder = tmp_path_factory.mktemp("cli-gateway")
    serve_port, gateway_port = _free_port(), _free_port()
    keys = generate_keys()
    (folder / "keys.json").write_text(dump_endpoint_keys(keys))
    os.chmod(folder / "keys.json", 0o600)
    config = GatewayConfig(endpoint="iris", traffic={"blue": 100}, deployments={
        "blue": DeploymentRoute("blue", (f"http://127.0.0.1:{serve_port}",),
                                request_timeout_ms=10000)})
    (folder / "gateway.json").write_text(dump_gateway_config(config))
    processes = [
        _start(["serve", "--model-dir", str(iris_lgbm_model_root), "--port", str(serve_port)],
               folder / "serve.log"),
        _start(["gateway", "run", "--config", str(folder / "gateway.json"),
                "--keys", str(folder / "keys.json"), "--port", str(gateway_port),
                "--max-header-kb", "16", "--header-timeout", "2"],
               folder / "gateway.log"),
    ]
    url = f"http://127.0.0.1:{gateway_port}"
    client = httpx.Client(base_url=url, timeout=15,
                          headers={"Authorization": f"Bearer {keys.primary_key}"})

    def model_ready() -> bool:
        for process in processes:
            assert process.poll() is None, (folder / "serve.log").read_text()[-2000:] + \
                (folder / "gateway.log").read_text()[-2000:]
        try:
            return client.get("/ready").status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(model_ready, what="the model to be ready behind the gateway", timeout=90,
                   interval=0.2)
        yield {"client": client, "url": url, "keys": keys, "log": folder / "gateway.log"}
    finally:
        client.close()
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)


def test_gateway_scores_the_seed_request_on_a_real_inference_server(served_endpoint):
    client = served_endpoint["client"]

    response = client.post("/score", json={"data": [[1, 2, 3, 4]]})

    assert response.status_code == 200, response.text
    assert response.headers["azureml-model-deployment"] == "blue"
    [probabilities] = response.json()
    assert len(probabilities) == 3 and abs(sum(probabilities) - 1) < 1e-6
    invocations = client.post("/invocations", json={"dataframe_split": {
        "columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
        "data": [[5.1, 3.5, 1.4, 0.2]]}})
    assert invocations.status_code == 200, invocations.text
    assert "predictions" in invocations.json()
    assert httpx.post(served_endpoint["url"] + "/score", json={"data": [[1, 2, 3, 4]]}
                      ).status_code == 401


def test_gateway_process_answers_head_at_once_and_applies_its_http_limits(served_endpoint):
    client, url = served_endpoint["client"], served_endpoint["url"]

    started = time.perf_counter()
    heads = [client.head(path) for path in ("/score", "/", "/swagger.json", "/v2/health/ready")]
    head_seconds = time.perf_counter() - started
    too_large = client.get("/", headers={"x-big": "a" * 20_000})
    with connect(url) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nhost: gw\r\n")
        late = read_response(sock)

    # The real server answers HEAD without a length on a kept-alive connection: it was
    # a 504 after request_timeout_ms through the gateway.
    assert [r.status_code for r in heads] == [405, 200, 200, 200]
    assert head_seconds < 2.0
    assert too_large.status_code == 431
    assert "larger than 16 KB" in too_large.json()["message"]
    assert late.status == 408 and 1.5 < late.seconds < 4


def test_gateway_process_logs_each_request_without_the_key(served_endpoint):
    client = served_endpoint["client"]
    client.post("/score", json={"data": [[1, 2, 3, 4]]}, headers={"x-request-id": "cli-log-1"})

    log = served_endpoint["log"]
    wait_until(lambda: "cli-log-1" in log.read_text(), what="the access log line")
    line = next(ln for ln in log.read_text().splitlines() if "cli-log-1" in ln)
    assert "deployment=blue" in line and "status=200" in line
    assert served_endpoint["keys"].primary_key not in log.read_text()


def test_gateway_run_without_keys_file_exits_1_with_a_hint(tmp_path):
    config = tmp_path / "gateway.json"
    config.write_text(json.dumps({"endpoint": "iris", "deployments": {}}))

    result = subprocess.run([*_gateway_run(), "--config", str(config), "--keys",
                             str(tmp_path / "missing.json"), "--port", str(_free_port())],
                            capture_output=True, text=True, timeout=60, env=_engine_env())

    assert result.returncode == 1
    assert "Error: The gateway's keys file" in result.stderr
    assert "Hint:" in result.stderr
    assert "Traceback" not in result.stderr


@python_only("`mlkube gateway check` is the Python CLI; the native binary only serves")
def test_gateway_check_validates_a_config_file(tmp_path):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"endpoint": "iris", "traffic": {"blue": 100},
                                "deployments": {"blue": {"instances": ["http://h:1"]}}}))
    bad.write_text(json.dumps({"endpoint": "iris", "traffic": {"blue": 50},
                               "deployments": {"blue": {"instances": ["http://h:1"]}}}))

    ok = subprocess.run([*MLKUBE, "gateway", "check", str(good)], capture_output=True,
                        text=True, timeout=60)
    refused = subprocess.run([*MLKUBE, "gateway", "check", str(bad)], capture_output=True,
                             text=True, timeout=60)

    assert ok.returncode == 0 and "digest" in ok.stdout
    assert refused.returncode == 1
    assert "traffic adds up to 50" in refused.stderr and "Hint:" in refused.stderr


def _serve_with_mlkube(config: Path, keys: Path, *, engine: str | None) -> tuple[dict, Path]:
    """Start `mlkube gateway run` as a target or pod does (``engine``: the value of
    ``MLKUBE_GATEWAY_ENGINE``, None for unset); its health JSON and the program its
    process runs once it answers."""
    env = {k: v for k, v in os.environ.items() if k != ENGINE_VARIABLE}
    if engine is not None:
        env[ENGINE_VARIABLE] = engine
    port = _free_port()
    process = subprocess.Popen([*MLKUBE, "gateway", "run", "--config", str(config), "--keys",
                                str(keys), "--port", str(port), "--log-level", "warning"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        def health() -> dict | None:
            assert process.poll() is None, process.communicate()[1].decode()[-2000:]
            try:
                return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).json()
            except httpx.TransportError:
                return None

        answer = wait_until(health, what="mlkube gateway run to answer", timeout=60,
                            interval=0.1)
        return answer, Path(os.readlink(f"/proc/{process.pid}/exe"))
    finally:
        process.terminate()
        process.wait(timeout=15)


@python_only("the choice `mlkube gateway run` makes between the engines, not an engine")
def test_gateway_run_serves_with_the_native_engine_where_it_is_installed(tmp_path):
    keys = tmp_path / "keys.json"
    keys.write_text(dump_endpoint_keys(generate_keys()))
    config = tmp_path / "gateway.json"
    config.write_text(json.dumps({"endpoint": "iris", "deployments": {}}))
    yaml_config = tmp_path / "gateway.yaml"
    yaml_config.write_text("endpoint: iris\ndeployments: {}\n")
    binary = installed_binary()

    auto, auto_program = _serve_with_mlkube(config, keys, engine=None)
    python, python_program = _serve_with_mlkube(config, keys, engine="python")
    from_yaml, _ = _serve_with_mlkube(yaml_config, keys, engine=None)

    # The same process (a pod's PID 1, a target's supervised child) becomes the binary.
    assert auto["engine"] == ("native" if binary else "python")
    if binary is not None:
        assert auto_program == binary.resolve()
    assert python["engine"] == "python" and python_program.name.startswith("python")
    # The native engine reads JSON only: a hand-written YAML file is served as before.
    assert from_yaml["engine"] == "python" and from_yaml["endpoint"] == "iris"

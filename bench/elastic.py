"""Seconds an elastic endpoint makes its users wait (BENCHMARKS.md's "Elastic endpoints"
section). A script, not a test:

    .venv/bin/python -m bench.elastic [--targets local,docker,kubernetes] [--repeat 3]

For each target it creates an endpoint in a fresh workspace, with the seed's score.py
made to answer after 0.2 s (so two clients keep two requests in flight) and
``target_utilization`` min 0, max 2, no delays, ``scale_to_zero_after_s: 3``, and times
through the SDK and the scoring URI, as a user drives them:

- first request from zero: the deployment has scaled to zero (on Kubernetes, its last
  pod is gone, not only unready); one request is sent and
  timed until its 200 (the gateway holds it while an instance starts), ``--repeat`` times;
- adding: from two clients starting until ``show`` says 2 instances serve;
- draining: from the clients stopping until ``show`` says 1 (then 0) instances run, and
  how many of the clients' requests failed meanwhile.

On Kubernetes only the first request from zero is timed (the HPA scales on CPU, which
this load does not move). Kubernetes needs ``KUBECONFIG`` and
``MLKUBE_TEST_K8S_REGISTRY`` (``eval "$(sudo make -s cluster)"``). Everything it creates
is deleted at the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from tests import models
from tests.endpoints.elastic import SLOW_SCORE_PY, instances
from tests.endpoints.scoring import ClientLoop, score

from mlkube.entities.code_configuration import CodeConfiguration
from mlkube.entities.compute import KubernetesCompute
from mlkube.entities.deployment_settings import (
    OnlineRequestSettings,
    TargetUtilizationScaleSettings,
)
from mlkube.entities.model import Model
from mlkube.entities.online_deployment import (
    KubernetesOnlineDeployment,
    ManagedOnlineDeployment,
    OnlineDeployment,
)
from mlkube.entities.online_endpoint import KubernetesOnlineEndpoint, ManagedOnlineEndpoint
from mlkube.operations.client import MLClient

ENDPOINT = "elastic-bench"
IDLE_S = 3


def _wait(condition: Callable[[], bool], *, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def _pods(namespace: str) -> int:
    from kubernetes import client as k8s
    from kubernetes import config

    with config.new_client_from_config(
            config_file=os.environ["KUBECONFIG"].split(os.pathsep)[0]) as api:
        return len(k8s.CoreV1Api(api).list_namespaced_pod(
            namespace, label_selector="app.kubernetes.io/component=inference-server").items)


def _deployment(target: str, model_root: Path, code: Path) -> OnlineDeployment:
    scale = TargetUtilizationScaleSettings(
        min_instances=0, max_instances=2, target_utilization_percentage=70,
        polling_interval=1, scale_up_delay_s=0, scale_down_delay_s=0,
        scale_to_zero_after_s=IDLE_S)
    fields = dict(
        name="blue", endpoint_name=ENDPOINT, model=Model(path=str(model_root / "model")),
        code_configuration=CodeConfiguration(code=str(code), scoring_script="score.py"),
        request_settings=OnlineRequestSettings(max_concurrent_requests_per_instance=1,
                                               max_queue_wait_ms=10_000,
                                               request_timeout_ms=180_000),
        instance_count=1, scale_settings=scale)
    if target == "kubernetes":
        return KubernetesOnlineDeployment(**fields)  # type: ignore[arg-type]
    return ManagedOnlineDeployment(**fields)  # type: ignore[arg-type]


def measure(target: str, *, repeat: int, folder: Path, model_root: Path) -> dict[str, object]:
    client = MLClient(workspace=folder / target)
    namespace = None
    if target == "kubernetes":
        namespace = f"bench-elastic-{uuid.uuid4().hex[:6]}"
        client.computes.attach(KubernetesCompute(
            name="k8s", kubeconfig=os.environ["KUBECONFIG"].split(os.pathsep)[0],
            namespace=namespace, registry=os.environ["MLKUBE_TEST_K8S_REGISTRY"]))
        subprocess.run([str(Path(sys.executable).with_name("mlkube")), "cluster", "install",
                        "--compute", "k8s"], check=True, capture_output=True,
                       env={**os.environ, "MLKUBE_WORKSPACE": str(folder / target)})
        endpoint = KubernetesOnlineEndpoint(name=ENDPOINT, compute="k8s")
    else:
        endpoint = ManagedOnlineEndpoint(name=ENDPOINT, compute=target)
    code = folder / f"code-{target}"
    code.mkdir()
    (code / "score.py").write_text(SLOW_SCORE_PY)
    results: dict[str, object] = {}
    try:
        client.online_endpoints.begin_create_or_update(endpoint, progress=None).result()
        client.online_deployments.begin_create_or_update(
            _deployment(target, model_root, code), progress=None).result()
        entity = client.online_endpoints.get(ENDPOINT)
        entity.traffic = {"blue": 100}
        client.online_endpoints.begin_create_or_update(entity, progress=None).result()
        uri = entity.scoring_uri or ""
        key = client.online_endpoints.get_keys(ENDPOINT).primary_key
        firsts = []
        with httpx.Client(timeout=300, trust_env=False) as http:
            for _ in range(repeat):
                _wait(lambda: instances(client, ENDPOINT, "blue") == (0, 0),
                      timeout=IDLE_S + 120, what="the deployment at zero")
                if namespace is not None:  # a terminating pod answers while it drains
                    _wait(lambda: _pods(namespace) == 0, timeout=120, what="no pod left")
                sent = time.monotonic()
                answer = score(http, uri, key)
                assert answer.status_code == 200, answer.text
                firsts.append(time.monotonic() - sent)
                print(f"{target}: first request from zero {firsts[-1]:.2f} s", flush=True)
        results["first_from_zero_s"] = firsts
        if target != "kubernetes":
            loops = [ClientLoop(uri, key).start() for _ in range(2)]
            try:
                results["add_s"] = _wait(
                    lambda: instances(client, ENDPOINT, "blue")[0] == 2, timeout=300,
                    what="2 instances serving")
            finally:
                stopped = time.monotonic()
                for loop in loops:
                    loop.stop()
            _wait(lambda: instances(client, ENDPOINT, "blue")[0] <= 1, timeout=120,
                  what="drained to 1")
            results["drain_to_1_s"] = time.monotonic() - stopped
            _wait(lambda: instances(client, ENDPOINT, "blue")[0] == 0, timeout=120,
                  what="drained to 0")
            results["drain_to_0_s"] = time.monotonic() - stopped
            results["requests"] = sum(sum(loop.statuses.values()) for loop in loops)
            results["failed"] = sum(len(loop.failures) for loop in loops)
            print(f"{target}: {results}", flush=True)
    finally:
        if any(e.name == ENDPOINT for e in client.online_endpoints.list()):
            client.online_endpoints.begin_delete(ENDPOINT, progress=None).result()
        if namespace is not None:
            from kubernetes import client as k8s
            from kubernetes import config

            with config.new_client_from_config(
                    config_file=os.environ["KUBECONFIG"].split(os.pathsep)[0]) as api:
                k8s.CoreV1Api(api).delete_namespace(namespace)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", default="local,docker,kubernetes")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlkube-bench-elastic-") as tmp:
        folder = Path(tmp)
        model_root = folder / "iris"
        models.train_iris_lightgbm(model_root)
        os.environ.setdefault("MLKUBE_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
        for target in args.targets.split(","):
            figures = measure(target, repeat=args.repeat, folder=folder, model_root=model_root)
            print(f"{target}: {figures}", flush=True)


if __name__ == "__main__":
    main()

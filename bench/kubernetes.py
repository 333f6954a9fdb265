"""Seconds that users of an attached cluster wait, measured on a real one (the figures of
BENCHMARKS.md's Kubernetes section). A script, not a test:

    eval "$(sudo make -s cluster)"        # or any cluster: KUBECONFIG + a registry
    .venv/bin/python -m bench.kubernetes [--cold]

It trains the iris model, attaches the cluster in a fresh workspace and namespace, and
times through the SDK, as a user drives it:

- endpoint create: the gateway image built (or reused) and pushed, its pods ready;
- deployment create -> first successful score through the scoring URI with the key,
  with the deployment image built cold (``--cold``: the images mlkube built in this
  Docker engine are removed first, so the environment layer is installed again) and
  with the image cached (a second endpoint, same model);
- a traffic change (the gateway's ConfigMap patched) until clients see the new split;
- a new model version rolled out under load (4 clients), and how many requests failed.

Everything it creates is deleted at the end (the namespace with it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from tests import models
from tests.endpoints.scoring import ClientLoop, score

from mlkube.entities.compute import KubernetesCompute
from mlkube.entities.model import Model
from mlkube.entities.online_deployment import KubernetesOnlineDeployment
from mlkube.entities.online_endpoint import KubernetesOnlineEndpoint
from mlkube.operations.client import MLClient

REQUEST_DEADLINE_S = 1800.0


def _timed(what: str, action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    seconds = time.monotonic() - started
    print(f"{what}: {seconds:.1f} s", flush=True)
    return seconds


def _first_score(client: MLClient, endpoint: str, deployment: str, started: float) -> float:
    uri = client.online_endpoints.get(endpoint).scoring_uri or ""
    key = client.online_endpoints.get_keys(endpoint).primary_key
    with httpx.Client(timeout=30, trust_env=False) as http:
        while time.monotonic() - started < REQUEST_DEADLINE_S:
            try:
                if score(http, uri, key, deployment=deployment).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
    raise SystemExit(f"{deployment} never answered within {REQUEST_DEADLINE_S}s")


def _deploy_to_first_score(client: MLClient, what: str, deployment: KubernetesOnlineDeployment
                           ) -> float:
    started = time.monotonic()
    client.online_deployments.begin_create_or_update(deployment, progress=None).result()
    seconds = _first_score(client, deployment.endpoint_name or "", deployment.name, started)
    print(f"{what}: {seconds:.1f} s", flush=True)
    return seconds


def _remove_mlkube_images() -> None:
    """Every image mlkube built in this engine (and their registry tags), so the next
    build installs the environment layer again."""
    listed = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
                            capture_output=True, text=True, check=True).stdout.split("\n")
    ids = {line.split()[1] for line in listed if line.startswith("mlkube/")}
    if ids:
        subprocess.run(["docker", "rmi", "-f", *sorted(ids)], capture_output=True, check=False)
    print(f"removed {len(ids)} image(s) mlkube built", flush=True)


def _seen_split(uri: str, key: str, wanted: str, started: float) -> float:
    """Seconds until 20 answers in a row come from ``wanted``."""
    in_a_row = 0
    with httpx.Client(timeout=30, trust_env=False) as http:
        while time.monotonic() - started < REQUEST_DEADLINE_S:
            response = score(http, uri, key)
            if response.headers.get("azureml-model-deployment") == wanted:
                in_a_row += 1
                if in_a_row >= 20:
                    return time.monotonic() - started
            else:
                in_a_row = 0
    raise SystemExit(f"traffic never moved to {wanted}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cold", action="store_true",
                        help="remove the images mlkube built first (environment layer cold)")
    args = parser.parse_args()
    kubeconfig, registry = os.environ.get("KUBECONFIG"), os.environ.get(
        "MLKUBE_TEST_K8S_REGISTRY")
    if not kubeconfig or not registry:
        raise SystemExit('Set KUBECONFIG and MLKUBE_TEST_K8S_REGISTRY: eval "$(sudo make -s '
                         'cluster)"')
    os.environ.setdefault("MLKUBE_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    scratch = Path(tempfile.mkdtemp(prefix="mlkube-k8s-bench-"))
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    client = MLClient(workspace=scratch / "workspace")
    try:
        model_root = scratch / "iris"
        models.train_iris_lightgbm(model_root)
        client.computes.attach(KubernetesCompute(name="k8s", kubeconfig=kubeconfig,
                                                 namespace=namespace, registry=registry))
        subprocess.run([str(Path(sys.executable).with_name("mlkube")), "cluster", "install",
                        "--compute", "k8s", "--workspace", str(scratch / "workspace")],
                       check=True, capture_output=True)
        if args.cold:
            _remove_mlkube_images()
        v1 = client.models.create_or_update(Model(name="iris", path=str(model_root / "model"),
                                                  type="mlflow_model"))
        endpoints = client.online_endpoints
        for name in ("bench-a", "bench-b"):
            _timed(f"endpoint {name} create (gateway ready)", lambda n=name: endpoints
                   .begin_create_or_update(KubernetesOnlineEndpoint(
                       name=n, compute="k8s"), progress=None).result())

        def deployment(name: str, endpoint: str, version: str) -> KubernetesOnlineDeployment:
            return KubernetesOnlineDeployment(name=name, endpoint_name=endpoint,
                                              model=f"azureml:iris:{version}")

        label = "cold (environment layer installed)" if args.cold else "image as found"
        _deploy_to_first_score(client, f"deployment create -> first score, {label}",
                               deployment("blue", "bench-a", str(v1.version)))
        _deploy_to_first_score(client, "deployment create -> first score, image cached",
                               deployment("blue", "bench-b", str(v1.version)))
        _deploy_to_first_score(client, "second deployment (green), image cached",
                               deployment("green", "bench-a", str(v1.version)))

        endpoint = endpoints.get("bench-a")
        uri = endpoint.scoring_uri or ""
        key = endpoints.get_keys("bench-a").primary_key
        endpoint.traffic = {"blue": 100, "green": 0}
        endpoints.begin_create_or_update(endpoint, progress=None).result()
        endpoint.traffic = {"blue": 0, "green": 100}
        started = time.monotonic()
        endpoints.begin_create_or_update(endpoint, progress=None).result()
        returned = time.monotonic() - started
        seen = _seen_split(uri, key, "green", started)
        print(f"traffic change: the call returns after {returned:.1f} s; clients see the "
              f"new split {seen:.1f} s after the call", flush=True)

        v2 = client.models.create_or_update(Model(name="iris", path=str(model_root / "model"),
                                                  type="mlflow_model"))
        loops = [ClientLoop(uri, key).start() for _ in range(4)]
        try:
            _timed("new model version rolled out (update .result())",
                   lambda: client.online_deployments.begin_create_or_update(
                       deployment("green", "bench-a", str(v2.version)), progress=None).result())
        finally:
            for loop in loops:
                loop.stop()
        answered = sum(loop.statuses[200] for loop in loops)
        failed = sum(len(loop.failures) for loop in loops)
        print(f"  under load: {answered} answered, {failed} failed", flush=True)
    finally:
        for name in ("bench-a", "bench-b"):
            try:
                client.online_endpoints.begin_delete(name, progress=None).result()
            except Exception as error:  # a partial run still cleans what it can
                print(f"cleanup of {name}: {error}", file=sys.stderr)
        subprocess.run([str(Path(sys.executable).with_name("mlkube")), "cluster", "uninstall",
                        "--compute", "k8s", "--force", "--workspace",
                        str(scratch / "workspace")], capture_output=True, check=False)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The Azure ML sample's ``deploy_kubernetes.py`` (examples/seed/), as its users wrote it
with only the imports changed, against the attached test cluster: it gets or creates the
Kubernetes endpoint (``ResourceNotFoundError`` from ``mlkube.exceptions``), gets the
registered model, deploys the sample's ``score.py`` with the model's ``conda.yaml``, and
routes traffic with ``ml_client.begin_create_or_update(endpoint).result()`` once the
deployment shows 0 %. Then the scoring URI it prints answers curl with the key.

As on Azure ML, the first run routes nothing: the endpoint it holds was read before the
deployment existed, so ``endpoint.traffic.get("default")`` is None, not 0. Its users ran
it again, and so does this test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kubernetes_live.conftest import LiveCluster, delete_namespace, unique_namespace
from tests.models import SEED_DIR

pytestmark = pytest.mark.timeout(1200)

WORKSPACE = "iris-sample-k8s"
MODEL = "iris-lightgbm"
ENDPOINT = "irisk8s-endpoint"


def _mlkube(env: dict[str, str], folder: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "mlkube.cli.main", "--workspace-name",
                           WORKSPACE, *args], cwd=folder, env=env, text=True,
                          capture_output=True, timeout=600, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"mlkube {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory, live_cluster: LiveCluster,
           iris_lgbm_model_root: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """The sample folder with its .env, a named workspace holding the registered model
    (downloaded to ./model, as the script's comment asks) and the cluster attached as
    ``k8s-compute`` in a namespace of its own."""
    folder = tmp_path_factory.mktemp("sample-k8s") / "amlv2_mlflow_to_kubernetes"
    shutil.copytree(SEED_DIR, folder, ignore=shutil.ignore_patterns(
        "__pycache__", ".env", "model", ".mlkube"))
    (folder / ".env").write_text(
        f"AZURE_SUBSCRIPTION_ID=\nAZURE_RESOURCE_GROUP=\nAZURE_ML_WORKSPACE={WORKSPACE}\n"
        f"AZURE_ML_K8S_CLUSTER=k8s-compute\nMODEL_NAME={MODEL}\nMODEL_VERSION=1\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLKUBE_WORKSPACE", "MLKUBE_TRACKING_URI", "MLKUBE_WORKSPACE_NAME")}
    env["MLKUBE_WORKSPACES_DIR"] = str(folder.parent / "workspaces")
    namespace = unique_namespace("t-seed")
    _mlkube(env, folder, "model", "create", "-n", MODEL, "-p",
            str(iris_lgbm_model_root / "model"), "-t", "mlflow_model")
    downloaded = json.loads(_mlkube(env, folder, "model", "download", "-n", f"{MODEL}@latest",
                                    "-p", str(folder / "download"), "-o", "json"))
    os.replace(downloaded["path"], folder / "model")
    _mlkube(env, folder, "compute", "attach", "--name", "k8s-compute", "--kubeconfig",
            str(live_cluster.kubeconfig), "--namespace", namespace,
            "--registry", live_cluster.registry)
    _mlkube(env, folder, "cluster", "install", "--compute", "k8s-compute")
    yield folder, env
    delete_namespace(live_cluster, namespace)


def _run(folder: Path, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "deploy_kubernetes.py"], cwd=folder, env=env,
                          text=True, capture_output=True, timeout=1200,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"deploy_kubernetes.py failed:\n{done.stdout[-3000:]}\n" \
                                 f"{done.stderr[-5000:]}"
    return done.stdout


def test_deploy_kubernetes_py_as_published_deploys_and_its_scoring_uri_answers_curl(
    sample: tuple[Path, dict[str, str]],
) -> None:
    folder, env = sample
    first = _run(folder, env)
    assert "Deployment not found. Creating a new one..." in first
    shown = json.loads(_mlkube(env, folder, "online-endpoint", "show", "-n", ENDPOINT,
                               "-o", "json"))
    assert shown["traffic"] == {"default": 0}
    assert shown["compute"] == "k8s-compute"

    second = _run(folder, env)
    assert "not found" not in second
    uri = second.split("k8s endpoint scoring uri: ", 1)[1].split()[0]
    assert uri.startswith("http://127.0.0.1:") and uri.endswith("/score")
    shown = json.loads(_mlkube(env, folder, "online-endpoint", "show", "-n", ENDPOINT,
                               "-o", "json"))
    assert shown["traffic"] == {"default": 100}

    key = json.loads(_mlkube(env, folder, "online-endpoint", "get-credentials", "-n",
                             ENDPOINT, "-o", "json"))["primaryKey"]
    # The script's own comment: curl with the key, from a machine that reaches the URI.
    done = subprocess.run(
        ["curl", "-sS", "-f", "-d", '{"data":[[1,2,3,4]]}', "-H",
         "Content-Type: application/json", "-H", f"Authorization: Bearer {key}", "-X", "POST",
         uri], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    assert len(row) == 3 and abs(sum(row) - 1) < 1e-6  # class probabilities of one flower

"""The Azure ML sample's own scripts (examples/seed/), run as a user runs them.

``main.py`` and ``deploy_local.py`` are the published scripts with only their imports
changed. They run as subprocesses in a copy of the sample folder, with the ``.env``
file the scripts read, against a named workspace in a temporary folder; what they print
is what is asserted. ``deploy_kubernetes.py`` needs a cluster and is run by the cluster
tests.
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

from tests.models import SEED_DIR

WORKSPACE = "iris-sample"
MODEL = "iris-sample-model"
# The sample's request rows: a setosa and a virginica flower.
EXPECTED_CLASSES = [0, 2]
SCRIPT_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A copy of the sample folder with its .env, and the environment scripts run with."""
    folder = tmp_path_factory.mktemp("sample") / "amlv2_mlflow_to_kubernetes"
    shutil.copytree(SEED_DIR, folder, ignore=shutil.ignore_patterns(
        "__pycache__", ".env", "model", ".mlkube"))
    (folder / ".env").write_text(
        f"AZURE_SUBSCRIPTION_ID=\nAZURE_RESOURCE_GROUP=\nAZURE_ML_WORKSPACE={WORKSPACE}\n"
        "AZURE_ML_TRAINING_CLUSTER=cpu-cluster\nAZURE_ML_K8S_CLUSTER=k8s-compute\n"
        f"MODEL_NAME={MODEL}\nMODEL_VERSION=1\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("MLKUBE_WORKSPACE", "MLKUBE_TRACKING_URI", "MLKUBE_WORKSPACE_NAME")}
    env["MLKUBE_WORKSPACES_DIR"] = str(folder.parent / "workspaces")
    yield folder, env
    for endpoint in ("iris-managed-endpoint", "iris-endpoint-local"):
        mlkube(env, folder, "online-endpoint", "delete", "-n", endpoint, check=False)


def run_script(folder: Path, env: dict[str, str], script: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, script], cwd=folder, env=env, text=True,
                            capture_output=True, timeout=SCRIPT_TIMEOUT_S, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout[-3000:]}\n" \
                                   f"{result.stderr[-5000:]}"
    return result


def mlkube(env: dict[str, str], folder: Path, *args: str, check: bool = True
           ) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "mlkube.cli.main", "--workspace-name",
                             WORKSPACE, *args], cwd=folder, env=env, text=True,
                            capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def predicted_classes(printed: str) -> list[int]:
    rows = json.loads(printed.strip().splitlines()[-1])
    return [max(range(len(row)), key=row.__getitem__) for row in rows]


@pytest.mark.timeout(SCRIPT_TIMEOUT_S * 2)
def test_main_py_trains_on_an_amlcompute_registers_deploys_and_invokes(sample):
    folder, env = sample
    first = run_script(folder, env, "main.py")
    out, err = first.stdout, first.stderr
    assert "Training cluster is not found, creating a new one..." in out
    assert "Model is not registered, training a new one..." in out
    assert "Completed" in out.splitlines()
    assert "Managed endpoint is not found, creating a new one..." in out
    assert "Deployment is not found, creating a new one..." in out
    assert predicted_classes(out) == EXPECTED_CLASSES
    # Where the named workspace is, said once; the curated environment substitution too.
    assert f"new workspace '{WORKSPACE}'" in err
    job = json.loads(mlkube(env, folder, "job", "list", "-o", "json").stdout)[0]
    log = Path(json.loads(mlkube(env, folder, "workspace", "show", "-o", "json").stdout)[
        "folder"]) / "jobs" / job["name"] / "user_logs" / "std_log.txt"
    assert "AzureML-lightgbm-3.2-ubuntu18.04-py37-cpu is Azure ML's curated environment " \
           "(Python 3.7, lightgbm 3.2); mlkube uses Python 3.11" in log.read_text()
    assert "running on compute cpu-cluster" in log.read_text()

    # Run again: everything exists, so the script only invokes.
    again = run_script(folder, env, "main.py").stdout
    assert "not found" not in again and "not registered" not in again
    assert predicted_classes(again) == EXPECTED_CLASSES


@pytest.mark.timeout(SCRIPT_TIMEOUT_S)
def test_deploy_local_py_creates_without_result_then_gets_and_invokes(sample):
    folder, env = sample
    if not json.loads(mlkube(env, folder, "model", "list", "-o", "json").stdout):
        pytest.fail("main.py registers the model this test downloads; it did not run first")
    # As the script's comment says: the model is downloaded to ./model first.
    downloaded = json.loads(mlkube(env, folder, "model", "download", "-n", f"{MODEL}@latest",
                                   "-p", str(folder / "download"), "-o", "json").stdout)
    os.replace(downloaded["path"], folder / "model")
    result = run_script(folder, env, "deploy_local.py")
    out = result.stdout
    assert "Local endpoint not found. Creating a new one..." in out
    assert "Local deployment not found. Creating a new one..." in out
    assert "Validate inferencing results on the local endpoint..." in out
    assert predicted_classes(out) == EXPECTED_CLASSES
    # The Azure ML image the script names is not pulled; the process target says so.
    shown = json.loads(mlkube(env, folder, "online-deployment", "show", "-n", "default", "-e",
                              "iris-endpoint-local", "--local", "-o", "json").stdout)
    assert shown["provisioning_state"] == "Succeeded"

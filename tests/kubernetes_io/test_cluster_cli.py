"""The real `mlkube` command for cluster preparation: `compute check` answers with
findings and exit code 1 when something is missing, `cluster install --dry-run` prints
what install applies, `cluster user-role` prints the Role to bind, and a cluster that
does not answer is an error message with a hint, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlkube.entities.compute import KubernetesCompute
from mlkube.operations.computes import ComputeOperations
from mlkube.workspace.workspace import Workspace
from tests.kubernetes_io.kubeconfigs import closed_port, write_kubeconfig

MLKUBE = str(Path(sys.executable).parent / "mlkube")


def mlkube(*args: str, workspace: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLKUBE_", "KUBECONFIG"))}
    env["MLKUBE_WORKSPACE"] = str(workspace)
    return subprocess.run([MLKUBE, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def attached(tmp_path_factory) -> tuple[Path, int]:
    """A workspace with compute `dev` attached: a kubeconfig whose server does not answer."""
    root = tmp_path_factory.mktemp("cluster-cli")
    port = closed_port()
    config = write_kubeconfig(root / "kubeconfig", server=f"https://127.0.0.1:{port}")
    workspace = root / "workspace"
    # Attached in-process (the CLI's attach is the workspace's own test); each `mlkube`
    # run below opens the workspace again, which is what costs time here.
    ComputeOperations(Workspace.open(workspace=workspace)).attach(KubernetesCompute(
        name="dev", kubeconfig=str(config), namespace="ml-serving",
        registry="127.0.0.1:5000/team"))
    return workspace, port


def test_compute_check_reports_the_unreachable_server_and_fails(attached):
    workspace, port = attached
    result = mlkube("compute", "check", "dev", workspace=workspace)
    assert result.returncode == 1
    assert f"[FAIL] Cannot reach the Kubernetes API server at https://127.0.0.1:{port}" in (
        result.stdout)
    assert "fix: Check that the cluster runs" in result.stdout
    assert "[ ok ] The compute names an image registry" in result.stdout
    assert "Traceback" not in result.stderr


def test_cluster_install_dry_run_prints_the_objects_it_would_apply(attached):
    workspace, _port = attached
    result = mlkube("cluster", "install", "--compute", "dev", "--dry-run", workspace=workspace)
    assert result.returncode == 0, result.stderr
    kinds = [(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(result.stdout)]
    assert kinds == [("Namespace", "ml-serving"), ("ServiceAccount", "mlkube-workload"),
                     ("NetworkPolicy", "mlkube-inference-from-gateway")]


def test_cluster_install_against_a_silent_server_is_an_error_with_a_hint(attached):
    workspace, port = attached
    result = mlkube("cluster", "install", "--compute", "dev", workspace=workspace)
    assert result.returncode == 1
    assert f"Error: Cannot reach the Kubernetes API server at https://127.0.0.1:{port}" in (
        result.stderr)
    assert "Hint:" in result.stderr and "Traceback" not in result.stderr


def test_user_role_prints_the_role_and_binding_for_a_namespace(tmp_path):
    result = mlkube("cluster", "user-role", "--namespace", "ml-serving", "--subject", "alice",
                    workspace=tmp_path)
    assert result.returncode == 0, result.stderr
    role, binding = yaml.safe_load_all(result.stdout)
    assert (role["kind"], role["metadata"]["namespace"]) == ("Role", "ml-serving")
    assert binding["subjects"] == [{"kind": "User", "name": "alice",
                                    "apiGroup": "rbac.authorization.k8s.io"}]


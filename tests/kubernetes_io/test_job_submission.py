"""Submitting a command job to an attached Kubernetes compute: what is refused before
anything is built or applied, with its cause and fix (no cluster is contacted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlkube.entities.compute import KubernetesCompute
from mlkube.entities.environment import Environment
from mlkube.entities.job import command
from mlkube.errors import ValidationError
from mlkube.operations.client import MLClient
from mlkube.operations.kubernetes_jobs import (
    check_artifact_store,
    check_cluster_workspace,
    check_kubernetes_job,
)
from mlkube.workspace.location import locate_workspace
from tests.models import SEED_DIR

ENVIRONMENT = Environment(python_version="3.11", pip_requirements=["mlflow"])


@pytest.fixture
def client(tmp_path: Path) -> MLClient:
    """An embedded workspace with compute k8s attached (its cluster never contacted)."""
    ml_client = MLClient(workspace=tmp_path / "ws")
    ml_client.computes.attach(KubernetesCompute(
        name="k8s", kubeconfig=str(tmp_path / "kubeconfig"), namespace="ml",
        registry="registry.example.com/team"))
    return ml_client


def test_embedded_workspace_is_refused_naming_the_tracking_server_to_use(client: MLClient):
    job = command(code=str(SEED_DIR / "training"), command="python train.py",
                  environment=ENVIRONMENT, compute="azureml:k8s")
    with pytest.raises(ValidationError) as error:
        client.jobs.create_or_update(job)
    assert "embedded" in str(error.value) and "no pod can reach" in str(error.value)
    assert "mlflow server" in error.value.hint and "MLKUBE_TRACKING_URI" in error.value.hint
    assert client.jobs.list() == []


@pytest.mark.parametrize(("uri", "says"), [
    ("http://127.0.0.1:5000", "loopback"),
    ("http://localhost:5000", "loopback"),
    ("postgresql://u:secret@db/mlflow", "database"),
])
def test_a_tracking_uri_pods_cannot_use_is_refused_with_the_fix(tmp_path: Path, uri: str,
                                                                says: str):
    location = locate_workspace(workspace=tmp_path, tracking_uri=uri, env={})
    with pytest.raises(ValidationError) as error:
        check_cluster_workspace(location, compute="k8s")
    assert says in str(error.value)
    assert "secret" not in str(error.value)  # the password is never shown
    assert "mlflow server" in error.value.hint


def test_a_tracking_server_on_a_reachable_address_is_accepted(tmp_path: Path):
    location = locate_workspace(workspace=tmp_path, tracking_uri="http://10.0.0.5:5000",
                                env={})
    check_cluster_workspace(location, compute="k8s")


def test_artifacts_in_a_folder_of_the_servers_machine_are_refused(tmp_path: Path):
    with pytest.raises(ValidationError) as error:
        check_artifact_store("/srv/mlflow/artifacts/1/abc/artifacts", compute="k8s")
    assert "--serve-artifacts" in error.value.hint
    check_artifact_store("mlflow-artifacts:/1/abc/artifacts", compute="k8s")
    check_artifact_store("s3://bucket/1/abc/artifacts", compute="k8s")


@pytest.mark.parametrize(("extra", "says"), [
    ({"environment": None}, "names none"),
    ({"resources": {"instance_count": 2}}, "one pod"),
    ({"limits": {"timeout": "soon"}}, "limits.timeout"),
])
def test_a_job_kubernetes_cannot_run_as_given_is_refused_at_submission(
        tmp_path: Path, extra: dict[str, object], says: str):
    location = locate_workspace(workspace=tmp_path, tracking_uri="http://10.0.0.5:5000",
                                env={})
    compute = KubernetesCompute(name="k8s", namespace="ml", registry="registry.example.com")
    job = command(command="python train.py", compute="k8s",
                  **{"environment": ENVIRONMENT, **extra})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=says):
        check_kubernetes_job(job, compute, location)

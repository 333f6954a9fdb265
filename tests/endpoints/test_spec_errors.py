"""Specs that cannot work fail before anything starts, naming the cause and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlkube.entities.code_configuration import CodeConfiguration
from mlkube.entities.model import Model
from mlkube.entities.online_deployment import ManagedOnlineDeployment
from mlkube.errors import (
    ConflictError,
    LocalEndpointNotFoundError,
    RequiredLocalArtifactsNotFoundError,
    ValidationError,
)
from mlkube.operations.client import MLClient
from tests.endpoints.conftest import RunningEndpoint


def _deploy(ml_client: MLClient, endpoint: str, **fields: object) -> None:
    deployment = ManagedOnlineDeployment(name="wrong", endpoint_name=endpoint, **fields)
    ml_client.online_deployments.begin_create_or_update(deployment, progress=None).result()


def test_custom_model_without_scoring_script_is_refused_with_the_fix(
    iris_endpoint: RunningEndpoint, ml_client: MLClient, tmp_path: Path,
) -> None:
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "model.pkl").write_bytes(b"\x80\x04N.")
    with pytest.raises(ValidationError) as error:
        _deploy(ml_client, iris_endpoint.name, model=Model(path=str(tmp_path / "weights")))
    assert "not an MLflow model" in error.value.message
    assert "code_configuration" in (error.value.hint or "")


def test_missing_model_folder_and_scoring_script_are_named(
    iris_endpoint: RunningEndpoint, ml_client: MLClient, iris_lgbm_model_root: Path,
    tmp_path: Path,
) -> None:
    with pytest.raises(RequiredLocalArtifactsNotFoundError, match="no-such-model"):
        _deploy(ml_client, iris_endpoint.name, model=str(tmp_path / "no-such-model"))
    with pytest.raises(RequiredLocalArtifactsNotFoundError, match="scoring script scor.py"):
        _deploy(ml_client, iris_endpoint.name,
                model=Model(path=str(iris_lgbm_model_root / "model")),
                code_configuration=CodeConfiguration(code=str(tmp_path),
                                                     scoring_script="scor.py"))


def test_deployment_for_a_missing_endpoint_fails_at_once(ml_client: MLClient) -> None:
    with pytest.raises(LocalEndpointNotFoundError, match="no-such-endpoint"):
        ml_client.online_deployments.begin_create_or_update(ManagedOnlineDeployment(
            name="blue", endpoint_name="no-such-endpoint", model="iris:1"))


def test_traffic_to_an_unknown_deployment_and_deleting_a_routed_one_are_refused(
    iris_endpoint: RunningEndpoint, ml_client: MLClient,
) -> None:
    endpoint = ml_client.online_endpoints.get(iris_endpoint.name)
    endpoint.traffic = {"blue": 50, "purple": 50}
    with pytest.raises(ValidationError, match="purple"):
        ml_client.online_endpoints.begin_create_or_update(endpoint, progress=None).result()
    with pytest.raises(ConflictError) as error:
        ml_client.online_deployments.begin_delete("blue", iris_endpoint.name,
                                                  progress=None).result()
    assert "traffic" in error.value.message and error.value.hint
    assert ml_client.online_deployments.get("blue", iris_endpoint.name).provisioning_state \
        == "Succeeded"

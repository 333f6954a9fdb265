"""Online deployments load from Azure ML v2 YAML unchanged and refuse bad specs clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlkube.entities import deployment_settings as settings
from mlkube.entities.code_configuration import CodeConfiguration
from mlkube.entities.environment import Environment
from mlkube.entities.model import Model
from mlkube.entities.online_deployment import (
    KubernetesOnlineDeployment,
    ManagedOnlineDeployment,
    load_online_deployment,
    parse_asset_reference,
)
from mlkube.errors import ValidationError

YAML = Path(__file__).parent / "yaml"


def test_kubernetes_deployment_yaml_loads_with_paths_resolved_against_its_folder() -> None:
    deployment = load_online_deployment(YAML / "kubernetes-blue-deployment.yml")
    assert isinstance(deployment, KubernetesOnlineDeployment)
    assert isinstance(deployment.model, Model)
    assert Path(deployment.model.path).resolve() == (YAML / "../model-1/model").resolve()
    assert Path(deployment.code_configuration.code).resolve() == (
        YAML / "../model-1/onlinescoring").resolve()
    assert deployment.code_configuration.scoring_script == "score.py"
    assert isinstance(deployment.environment, Environment)
    assert Path(deployment.environment.conda_file).resolve() == (
        YAML / "../model-1/environment/conda.yml").resolve()
    assert deployment.request_settings == settings.OnlineRequestSettings(
        request_timeout_ms=3000, max_concurrent_requests_per_instance=1, max_queue_wait_ms=3000)
    assert deployment.liveness_probe.failure_threshold == 1
    assert deployment.resources.requests.cpu == "0.1"
    assert deployment.resources.limits.memory == "200Mi"
    assert isinstance(deployment.scale_settings, settings.DefaultScaleSettings)


def test_target_utilization_yaml_loads_with_azure_defaults_for_the_rest() -> None:
    deployment = load_online_deployment(YAML / "kubernetes-green-deployment.yml")
    scale = deployment.scale_settings
    assert isinstance(scale, settings.TargetUtilizationScaleSettings)
    assert (scale.min_instances, scale.max_instances, scale.polling_interval,
            scale.target_utilization_percentage) == (1, 3, 10, 70)
    assert deployment.max_instances == 3
    assert deployment.app_insights_enabled is True
    # Unset blocks take Azure ML's defaults, except 8 requests in flight per instance
    # (Azure's 1 would leave mlkube's server idle through every gateway round trip).
    assert deployment.request_settings == settings.OnlineRequestSettings(
        request_timeout_ms=5000, max_concurrent_requests_per_instance=8, max_queue_wait_ms=500)
    assert deployment.readiness_probe == settings.ProbeSettings(
        initial_delay=10, period=10, timeout=2, failure_threshold=30, success_threshold=1)


def test_no_code_mlflow_deployment_yaml_loads_a_registered_model_block() -> None:
    deployment = load_online_deployment(YAML / "mlflow-deployment.yml")
    assert isinstance(deployment, ManagedOnlineDeployment)
    assert deployment.model.type == "mlflow_model"
    assert deployment.model.version == "1"  # `version: 1` in YAML
    assert str(deployment.model_reference) == "mir-sample-sklearn-ncd-model:1"
    assert deployment.environment is None and deployment.code_configuration is None


def test_environment_variables_keep_their_yaml_spelling_as_text() -> None:
    deployment = load_online_deployment(YAML / "app-insights-deployment.yml")
    assert deployment.environment_variables == {
        "AML_APP_INSIGHTS_KEY": "placeholder", "AML_MODEL_DC_STORAGE_ENABLED": "false",
        "APP_INSIGHTS_LOG_RESPONSE_ENABLED": "false", "WORKER_COUNT": "2"}
    image = load_online_deployment(YAML / "mlflow-image-deployment.yml")
    assert image.environment_variables == {"MLFLOW_MODEL_FOLDER": "model"}


def test_registered_model_and_environment_references_stay_references() -> None:
    deployment = load_online_deployment(YAML / "registered-model-deployment.yml")
    assert deployment.model == "azureml:lightgbm-iris:3"
    assert deployment.environment == "azureml:lightgbm-iris-env@latest"
    assert deployment.resources.requests.gpu == "1"
    assert deployment.resources.requests.cpu == "1"  # `cpu: 1` in YAML


def test_a_local_model_path_string_is_resolved_like_a_path_field(tmp_path: Path) -> None:
    spec = tmp_path / "specs" / "deployment.yml"
    spec.parent.mkdir()
    spec.write_text("name: blue\nmodel: ../models/iris\n")
    deployment = load_online_deployment(spec)
    assert Path(deployment.model).resolve() == (tmp_path / "models" / "iris").resolve()
    assert deployment.model_reference is None


@pytest.mark.parametrize(("text", "expected"), [
    ("azureml:iris:3", ("iris", "3", None)),
    ("iris:3", ("iris", "3", None)),
    ("iris@latest", ("iris", None, "latest")),
    ("azureml:iris@champion", ("iris", None, "champion")),
    ("./models/iris", None),
    ("model", None),
    ("runs:/0123/model", None),
])
def test_asset_references_are_told_apart_from_paths(text: str, expected: tuple | None) -> None:
    reference = parse_asset_reference(text)
    got = None if reference is None else (reference.name, reference.version, reference.label)
    assert got == expected


def test_an_azure_ml_sdk_script_builds_deployments_with_keywords() -> None:
    deployment = ManagedOnlineDeployment(
        name="blue", endpoint_name="my-endpoint",
        model=Model(path="./model", type="mlflow_model"),
        environment=Environment(conda_file="./conda.yaml", image="python:3.11-slim"),
        code_configuration=CodeConfiguration(code="./src", scoring_script="score.py"),
        instance_type="Standard_DS3_v2", instance_count=1,
        request_settings=settings.OnlineRequestSettings(request_timeout_ms=90000),
        liveness_probe=settings.ProbeSettings(initial_delay=30),
    )
    assert deployment.request_settings.max_queue_wait_ms == 500
    short = ManagedOnlineDeployment(name="green", model="iris:1", code_path="./src",
                                    scoring_script="score.py")
    assert short.code_configuration.scoring_script == "score.py"
    gpu = KubernetesOnlineDeployment(
        name="gpu", model="iris:1",
        resources=settings.ResourceRequirementsSettings(
            requests=settings.ResourceSettings(cpu="1", memory="4Gi", gpu="1")))
    assert gpu.to_dict()["resources"]["requests"]["nvidia.com/gpu"] == "1"
    with pytest.raises(ValidationError, match="instance_count"):
        deployment.instance_count = 0


def test_a_deployment_survives_a_dump_and_load_round_trip(tmp_path: Path) -> None:
    deployment = load_online_deployment(YAML / "kubernetes-green-deployment.yml")
    deployment.dump(tmp_path / "again.yml")
    assert load_online_deployment(tmp_path / "again.yml") == deployment


@pytest.mark.parametrize(("yaml_text", "field", "rule"), [
    ("name: blue_1\nmodel: iris:1\n", "name", "only letters, digits and '-'"),
    ("name: blue\nendpoint_name: ab\nmodel: iris:1\n", "endpoint_name", "use 3 to 32"),
    ("name: blue\n", "(spec)", "neither a model nor a code_configuration"),
    ("name: blue\nmodel: iris:1\ninstance_count: 0\n", "instance_count",
     "greater than or equal to 1"),
    ("name: blue\nmodel: iris:1\nrequest_settings: {request_timeout_ms: 0}\n",
     "request_settings.request_timeout_ms", "greater than or equal to 1"),
    ("name: blue\nmodel: iris:1\nrequest_settings: {max_concurrent_requests_per_instance: 0}\n",
     "request_settings.max_concurrent_requests_per_instance", "greater than or equal to 1"),
    ("name: blue\nmodel: iris:1\nreadiness_probe: {period: 0}\n", "readiness_probe.period",
     "greater than or equal to 1"),
    ("name: blue\nmodel: iris:1\nliveness_probe: {initial_delay: -5}\n",
     "liveness_probe.initial_delay", "greater than or equal to 0"),
    ("name: blue\nmodel: iris:1\nliveness_probe: {success_threshold: 2}\n", "(spec)",
     "Kubernetes requires 1"),
    ("name: blue\nmodel: iris:1\nscale_settings: {type: manual}\n", "scale_settings",
     "'default', 'target_utilization'"),
    ("name: blue\nmodel: iris:1\nscale_settings: {type: target_utilization, min_instances: 4,"
     " max_instances: 2}\n", "scale_settings.target_utilization",
     "min_instances (4) is above max_instances (2)"),
    ("name: blue\nmodel: iris:1\nscale_settings: {type: target_utilization,"
     " target_utilization_percentage: 150}\n",
     "scale_settings.target_utilization.target_utilization_percentage", "less than or equal"),
    ("name: blue\nmodel: iris:1\nenvironment_variables: {1BAD: x}\n", "environment_variables",
     "is not valid"),
    ("type: kubernetes\nname: blue\nmodel: iris:1\nresources: {requests: {cpu: lots}}\n",
     "resources.requests.cpu", "is not a Kubernetes quantity"),
    ("type: kubernetes\nname: blue\nmodel: iris:1\nresources: {requests: {memory: 4Gi},"
     " limits: {memory: 2Gi}}\n", "resources", "requests.memory (4Gi) is above limits.memory"),
    ("type: kubernetes\nname: blue\nmodel: iris:1\nresources: {requests: {nvidia.com/gpu: 0.5}}\n",
     "resources.requests.nvidia.com/gpu", "not a whole number of GPUs"),
    ("type: kubernetes\nname: blue\nmodel: iris:1\nresources: {requests: {nvidia.com/gpu: 1},"
     " limits: {nvidia.com/gpu: 2}}\n", "resources", "nvidia.com/gpu differ"),
    ("type: kubernetes\nname: blue\nmodel: iris:1\nresources: {requests: {disk: 1Gi}}\n",
     "resources.requests.disk", "is not a known field"),
    ("name: blue\nmodel: iris:1\nresources: {requests: {cpu: 1}}\ntype: managed\n", "resources",
     "is not a known field"),
    ("type: batch\nname: blue\nmodel: iris:1\n", "type", "'managed'"),
])
def test_each_deployment_rule_fails_with_file_field_and_rule(
    tmp_path: Path, yaml_text: str, field: str, rule: str
) -> None:
    spec = tmp_path / "deployment.yml"
    spec.write_text(yaml_text)
    with pytest.raises(ValidationError) as caught:
        load_online_deployment(spec)
    message = caught.value.message
    assert str(spec) in message
    assert f"  {field}: " in message, message
    assert rule in message, message
    assert caught.value.hint

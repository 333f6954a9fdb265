"""The docker target's naming, labels and variables (pure, no engine): containers of two
workspaces never collide, the variables a container starts with agree with the ones its
image bakes in, and an instance is never published beyond 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlkube.environments.dockerfile import render_build_context
from mlkube.environments.resolved import ResolvedEnvironment
from mlkube.targets.base import PreparedDeployment
from mlkube.targets.docker.build import (
    CA_BUNDLE_VARIABLE,
    build_ca_bundle,
    deployment_build_context,
)
from mlkube.targets.docker.containers import (
    container_environment,
    container_name,
    deployment_labels,
    endpoint_labels,
    image_repository,
)
from mlkube.targets.docker.instance import parse_arguments
from tests.models import SEED_CODE

ENVIRONMENT = ResolvedEnvironment(python_version="3.11", requirements=("numpy==2.4.6",))


def _prepared(model_root: Path, *, code: Path | None, variables: dict[str, str]
              ) -> PreparedDeployment:
    return PreparedDeployment(
        model_dir=model_root, model_folder="model", model_name="iris-lgbm", model_version="3",
        mlflow_model=True, code_dir=code, scoring_script="score.py" if code else None,
        environment=ENVIRONMENT, environment_variables=variables)


def test_same_endpoint_and_instance_in_two_workspaces_get_different_container_names() -> None:
    first = container_name(Path("/a/endpoints/blue"), "blue", "green-1-0")
    second = container_name(Path("/b/endpoints/blue"), "blue", "green-1-0")
    assert first != second
    assert first.startswith("mlkube-blue-green-1-0-")


def test_labels_select_one_workspace_endpoint_and_its_deployments() -> None:
    endpoint = endpoint_labels(Path("/w/endpoints/Iris"), "Iris")
    deployment = deployment_labels(Path("/w/endpoints/Iris"), "Iris", "blue")
    assert endpoint == {"app.kubernetes.io/managed-by": "mlkube", "mlkube.io/endpoint": "Iris",
                        "mlkube.io/endpoint-state": "/w/endpoints/Iris"}
    assert deployment == {**endpoint, "mlkube.io/deployment": "blue"}


def test_image_repository_is_a_valid_lowercase_docker_name() -> None:
    assert image_repository("Iris-Endpoint", "Blue") == "mlkube/iris-endpoint-blue"


@pytest.mark.parametrize("with_code", [False, True])
def test_container_variables_agree_with_the_image_and_user_variables_win(
    iris_lgbm_model_root: Path, tmp_path: Path, with_code: bool,
) -> None:
    wheel = tmp_path / "mlkube-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    prepared = _prepared(iris_lgbm_model_root, code=SEED_CODE if with_code else None,
                         variables={"LOG_LEVEL": "debug", "SERVER_PORT": "5001"})
    baked = deployment_build_context(prepared, wheel).environment

    started = container_environment(prepared)

    assert {k: started[k] for k in baked} == dict(baked)
    assert started["LOG_LEVEL"] == "debug"
    assert started["AZUREML_MODEL_DIR"] == "/var/azureml-app/azureml-models/iris-lgbm/3"
    assert started["MLKUBE_MODEL_VERSION"] == "3"
    if with_code:
        assert started["AZUREML_ENTRY_SCRIPT"] == "score.py"
    # Never baked: the image holds no value the deployment passes at start.
    assert "LOG_LEVEL" not in render_build_context(
        ENVIRONMENT, wheel, model_path=iris_lgbm_model_root / "model").environment


def test_build_trusts_mlkube_ca_bundle_before_the_hosts(tmp_path: Path) -> None:
    bundle = tmp_path / "corporate.pem"
    assert build_ca_bundle({CA_BUNDLE_VARIABLE: str(bundle)}) == bundle
    host = Path("/etc/ssl/certs/ca-certificates.crt")
    assert build_ca_bundle({}) == (host if host.is_file() else None)


def test_a_missing_mlkube_ca_bundle_stops_every_targets_image_build_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The docker and Kubernetes targets trust the same bundle: one that is configured but
    missing is an error naming it on both (the Kubernetes one used to build without it,
    and pip failed later on TLS with no word of the bundle)."""
    from mlkube import MLClient
    from mlkube.entities.compute import KubernetesCompute
    from mlkube.errors import RequiredLocalArtifactsNotFoundError
    from mlkube.operations.endpoint_targets import EndpointTargets
    from mlkube.targets.docker.build import gateway_build_context

    missing = tmp_path / "corporate.pem"
    monkeypatch.setenv(CA_BUNDLE_VARIABLE, str(missing))
    client = MLClient(workspace=tmp_path / "workspace")
    client.computes.attach(KubernetesCompute(name="cluster", namespace="ml",
                                             registry="127.0.0.1:5000/ml"))
    targets = EndpointTargets(client.workspace.root, computes=client.computes)
    wheel = tmp_path / "mlkube-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel")

    bundles = [targets.docker.instances.ca_bundle, targets.kubernetes("cluster").ca_bundle]

    assert bundles == [missing, missing]
    for bundle in bundles:
        with pytest.raises(RequiredLocalArtifactsNotFoundError, match="corporate.pem"):
            gateway_build_context(wheel, ca_bundle=bundle)


def test_instance_refuses_to_publish_beyond_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_arguments(["--image", "x", "--container", "c", "--port", "1", "--host",
                         "0.0.0.0"])
    assert "--host must be 127.0.0.1" in capsys.readouterr().err

"""The public API is curated and pinned: scripts ported from Azure ML v2 import these."""

import subprocess
import sys

import mlkube

EXPECTED = {
    "__version__", "MLClient", "DefaultAzureCredential", "command", "Input", "Output",
    "load_online_endpoint", "load_online_deployment", "Command", "Model", "Environment",
    "BuildContext", "CodeConfiguration", "OnlineEndpoint", "ManagedOnlineEndpoint",
    "KubernetesOnlineEndpoint", "OnlineDeployment", "ManagedOnlineDeployment",
    "KubernetesOnlineDeployment", "OnlineRequestSettings", "ProbeSettings",
    "DefaultScaleSettings", "TargetUtilizationScaleSettings", "ResourceRequirementsSettings",
    "ResourceSettings", "EndpointAuthKeys", "EndpointAuthToken", "KubernetesCompute",
    "AmlCompute",
    "AssetTypes", "MlkubeError", "ValidationError", "ResourceNotFoundError",
    "LocalEndpointNotFoundError", "RequiredLocalArtifactsNotFoundError",
}


def test_exported_members_are_exactly_the_curated_list():
    assert set(mlkube.__all__) == EXPECTED


def test_every_exported_name_resolves():
    for name in mlkube.__all__:
        assert getattr(mlkube, name) is not None, name


def test_importing_mlkube_or_its_server_loads_no_control_plane():
    # The server runs inside a model's environment: `import mlkube` must stay light.
    code = (
        "import sys, mlkube, mlkube.server.app; "
        "heavy = [m for m in ('pydantic', 'mlflow', 'docker', 'kubernetes', 'httpx') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_azure_exception_names_are_mlkubes_own_errors():
    # `except ResourceNotFoundError` in a ported script catches what mlkube raises.
    from mlkube import errors, exceptions

    assert exceptions.ResourceNotFoundError is errors.ResourceNotFoundError
    assert exceptions.LocalEndpointNotFoundError is errors.LocalEndpointNotFoundError
    assert issubclass(exceptions.LocalEndpointNotFoundError, exceptions.ResourceNotFoundError)
    assert exceptions.ValidationException is errors.ValidationError
    assert exceptions.HttpResponseError is errors.MlkubeError
    assert all(getattr(exceptions, name) for name in exceptions.__all__)

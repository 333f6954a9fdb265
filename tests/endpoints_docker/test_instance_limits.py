"""A docker deployment's instance type limits its containers: the engine itself reports
the CPU and memory limits of the running container, and ``show`` says the same."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import docker
from mlkube.entities.online_endpoint import ManagedOnlineEndpoint
from mlkube.operations.client import MLClient
from mlkube.targets.docker.containers import DEPLOYMENT_LABEL, ENDPOINT_LABEL
from tests.endpoints.conftest import no_code_deployment
from tests.endpoints.scoring import score

pytestmark = pytest.mark.timeout(900)

ENDPOINT = "iris-sized"


@pytest.fixture(scope="module")
def sized_endpoint(docker_client: MLClient, iris_lgbm_model_root: Path) -> Iterator[str]:
    """Endpoint ``iris-sized`` on docker with ``blue`` on a Standard_DS3_v2, as the seed's
    main.py sizes it; deleted at the end."""
    endpoints = docker_client.online_endpoints
    endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name=ENDPOINT, compute="docker", traffic={}),
        progress=None).result()
    try:
        created = docker_client.online_deployments.begin_create_or_update(
            no_code_deployment("blue", ENDPOINT, iris_lgbm_model_root,
                               instance_type="Standard_DS3_v2"), progress=None).result()
        assert created.provisioning_state == "Succeeded"
        yield ENDPOINT
    finally:
        endpoints.begin_delete(ENDPOINT, progress=None).result()


@pytest.fixture(scope="module")
def engine_api() -> Iterator[docker.APIClient]:
    """The Docker Engine API, read directly (not through mlkube)."""
    client = docker.APIClient(version="auto")
    yield client
    client.close()


def test_container_runs_with_the_cpu_and_memory_of_its_instance_type(
        sized_endpoint: str, engine_api: docker.APIClient) -> None:
    [container] = engine_api.containers(filters={"label": [
        f"{ENDPOINT_LABEL}={sized_endpoint}", f"{DEPLOYMENT_LABEL}=blue"]})
    host_config = engine_api.inspect_container(container["Id"])["HostConfig"]
    # Standard_DS3_v2 is 4 vCPUs and 14 GiB; Docker allows no more CPUs than the machine has.
    machine_cpus = engine_api.info()["NCPU"]
    assert host_config["NanoCpus"] == min(4, machine_cpus) * 10**9
    assert host_config["Memory"] == 14 * 2**30


def test_show_says_what_the_instance_type_became_in_docker(
        sized_endpoint: str, docker_client: MLClient, engine_api: docker.APIClient) -> None:
    shown = docker_client.online_deployments.get("blue", sized_endpoint).instance_resources
    assert shown is not None
    assert (shown.instance_type, shown.cpu, shown.memory) == ("Standard_DS3_v2", "4", "14Gi")
    assert shown.applied.startswith("docker container limits: ")
    assert f"Memory {14 * 2**30}" in shown.applied
    if engine_api.info()["NCPU"] < 4:
        assert "CPUs capped at this machine's" in shown.applied


def test_sized_container_still_scores(sized_endpoint: str, docker_client: MLClient) -> None:
    endpoint = docker_client.online_endpoints.get(sized_endpoint)
    key = docker_client.online_endpoints.get_keys(sized_endpoint).primary_key
    with httpx.Client(timeout=30, trust_env=False) as http:
        response = score(http, endpoint.scoring_uri or "", key, deployment="blue")
    assert response.status_code == 200, response.text

"""Contract test, no cluster needed: the *rendered* pod specs run in real Docker.

The inference server's Deployment (image, command/args, env, ports, probes, read-only
root with an emptyDir /tmp, uid 1000, dropped capabilities, memory limit) runs from the
image the Kubernetes target builds for the iris LightGBM model; its startup, liveness and
readiness probe paths answer 200 and ``POST /score`` with the seed's request returns
the model's own in-process prediction. The gateway's Deployment runs from the gateway
image with its rendered ConfigMap and Secret mounted where the pod mounts them, reaches
the inference container by the Service's in-cluster DNS name from the rendered config,
and routes a keyed request to it (and refuses one without the key), served by the native
engine when this machine has one to put in the image.

Docker must be running (``bash .ci/start-docker.sh``): the test fails, not skips,
without it. The deployment image is the docker tests' (same build context, so the same
cached image); the gateway image is small and cached after its first build.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest

import docker
from mlkube.entities.online_deployment import KubernetesOnlineDeployment
from mlkube.entities.online_endpoint import KubernetesOnlineEndpoint
from mlkube.gateway.auth import generate_keys
from mlkube.gateway.engine import image_binary
from mlkube.targets.base import PreparedDeployment
from mlkube.targets.docker.build import (
    deployment_build_context,
    deployment_layout,
    gateway_build_context,
)
from mlkube.targets.kubernetes.gateway_manifests import CONFIG_FILE
from mlkube.targets.kubernetes.inference_manifests import CONTAINER as INFERENCE_CONTAINER
from mlkube.targets.kubernetes.names import deployment_object_name, endpoint_object_name
from mlkube.targets.kubernetes.render import render_manifests
from tests.docker.conftest import HOST_CA_BUNDLE
from tests.kubernetes_io.pod_in_docker import (
    pod_template,
    probe_url,
    run_pod_container,
    wait_for_probes,
    write_volume_files,
)

NAMESPACE = "mlkube"
#: The docker tests' repository: the same build context gives the same cached image.
REPOSITORY = "mlkube-test/deployment"
GATEWAY_REPOSITORY = "mlkube-test/gateway"
SEED_REQUEST = {"data": [[1, 2, 3, 4]]}
RUN = uuid.uuid4().hex[:10]
LABELS = {"mlkube.io/test-run": RUN}
PROBE_DEADLINE_S = 120.0


@pytest.fixture(scope="module")
def docker_client() -> Iterator[docker.APIClient]:
    try:
        client = docker.APIClient(version="auto", timeout=120)
        client.ping()
    except docker.errors.DockerException as error:
        pytest.fail(f"Docker is not running ({error}): start it with "
                    "`bash .ci/start-docker.sh`; this contract test needs a real engine.")
    network = client.create_network(f"mlkube-contract-{RUN}", driver="bridge",
                                    labels=LABELS)["Id"]
    yield client
    for container in client.containers(all=True, filters={"label": f"mlkube.io/test-run={RUN}"}):
        client.remove_container(container["Id"], force=True)
    client.remove_network(network)
    client.close()


@pytest.fixture(scope="module")
def prepared(iris_lgbm_model_root: Path, model_environment) -> PreparedDeployment:
    return PreparedDeployment(
        model_dir=iris_lgbm_model_root, model_folder="model", model_name="iris-lgbm",
        model_version="1", mlflow_model=True, code_dir=None, scoring_script=None,
        environment=model_environment)


@pytest.fixture(scope="module")
def images(docker_engine, prepared, server_wheel) -> dict[str, str]:
    deployment_image = docker_engine.build_image(
        deployment_build_context(prepared, server_wheel, ca_bundle=HOST_CA_BUNDLE),
        repository=REPOSITORY)
    # As the Kubernetes target builds it: with this machine's native engine, if any.
    gateway_image = docker_engine.build_image(
        gateway_build_context(server_wheel, ca_bundle=HOST_CA_BUNDLE,
                              native_gateway=image_binary()),
        repository=GATEWAY_REPOSITORY)
    return {"deployment": deployment_image.reference, "gateway": gateway_image.reference}


@pytest.fixture(scope="module")
def rendered(prepared, images):
    endpoint = KubernetesOnlineEndpoint(name="iris", compute="k8s", auth_mode="key",
                                        traffic={"blue": 100})
    deployment = KubernetesOnlineDeployment(
        name="blue", endpoint_name="iris", model=str(prepared.model_dir / "model"),
        instance_count=1)
    keys = generate_keys()
    manifests = render_manifests(
        endpoint, [deployment], namespace=NAMESPACE, images={"blue": images["deployment"]},
        gateway_image=images["gateway"], keys=keys,
        layouts={"blue": deployment_layout(prepared)})
    return manifests, keys


@pytest.fixture(scope="module")
def expected_probabilities(iris_lgbm_model_root: Path) -> np.ndarray:
    import mlflow.lightgbm

    booster = mlflow.lightgbm.load_model(str(iris_lgbm_model_root / "model"))
    return np.asarray(booster.predict(np.array(SEED_REQUEST["data"], dtype=float)))


@pytest.fixture(scope="module")
def inference_server(docker_client, rendered, images):
    manifests, _keys = rendered
    name = deployment_object_name("iris", "blue")
    pod = pod_template(manifests, kind="Deployment", name=name)
    service = next(m for m in manifests if m["kind"] == "Service"
                   and m["metadata"]["name"] == name)
    docker_name = f"mlkube-contract-{RUN}-inference"
    ports = run_pod_container(
        docker_client, pod, container_name=INFERENCE_CONTAINER, image=images["deployment"],
        docker_name=docker_name, network=f"mlkube-contract-{RUN}",
        aliases=[f"{service['metadata']['name']}.{NAMESPACE}.svc"], labels=LABELS,
        volume_folders={})
    container = pod["containers"][0]
    probes = wait_for_probes(docker_client, docker_name, container, host_ports=ports,
                             deadline_s=PROBE_DEADLINE_S)
    return container, ports, probes


def test_rendered_inference_pod_runs_with_its_hardening_and_passes_every_probe(
        docker_client, inference_server):
    container, _ports, probes = inference_server
    assert probes == {"startupProbe": 200, "livenessProbe": 200, "readinessProbe": 200}
    info = docker_client.inspect_container(f"mlkube-contract-{RUN}-inference")
    # The hardening the pod spec asks for is what the container really ran with.
    assert info["Config"]["User"] == "1000:1000"
    assert info["HostConfig"]["ReadonlyRootfs"] is True
    assert info["HostConfig"]["CapDrop"] == ["ALL"]
    assert container["securityContext"]["runAsNonRoot"] is True


def test_rendered_inference_pod_scores_the_seed_request_like_the_model_in_process(
        inference_server, expected_probabilities):
    container, ports, _probes = inference_server
    base = probe_url(container, "livenessProbe", host_ports=ports).rsplit("/v2/", 1)[0]

    response = httpx.post(f"{base}/score", json=SEED_REQUEST, timeout=30)

    assert response.status_code == 200, response.text
    assert np.allclose(np.asarray(response.json()), expected_probabilities, atol=1e-6)


@pytest.fixture(scope="module")
def gateway(docker_client, rendered, images, inference_server):
    manifests, keys = rendered
    pod = pod_template(manifests, kind="Deployment", name=endpoint_object_name("iris"))
    scratch = Path(tempfile.mkdtemp(prefix="mlkube-contract-"))
    folders = write_volume_files(pod, manifests, scratch)
    docker_name = f"mlkube-contract-{RUN}-gateway"
    ports = run_pod_container(
        docker_client, pod, container_name="gateway", image=images["gateway"],
        docker_name=docker_name, network=f"mlkube-contract-{RUN}", aliases=[],
        labels=LABELS, volume_folders=folders)
    container = pod["containers"][0]
    wait_for_probes(docker_client, docker_name, container, host_ports=ports,
                    deadline_s=PROBE_DEADLINE_S)
    yield container, ports, keys
    for folder in folders.values():
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
    scratch.rmdir()


def test_gateway_config_points_at_the_deployments_service_dns_name(rendered):
    manifests, _keys = rendered
    config_map = next(m for m in manifests if m["kind"] == "ConfigMap")
    config = json.loads(config_map["data"][CONFIG_FILE])
    (url,) = set(config["deployments"]["blue"]["instances"])
    assert urlsplit(url).hostname == f"{deployment_object_name('iris', 'blue')}.{NAMESPACE}.svc"


def test_rendered_gateway_routes_a_keyed_request_to_the_rendered_inference_server(
        gateway, expected_probabilities):
    container, ports, keys = gateway
    base = probe_url(container, "readinessProbe", host_ports=ports).rstrip("/")

    response = httpx.post(f"{base}/score", json=SEED_REQUEST, timeout=30,
                          headers={"Authorization": f"Bearer {keys.primary_key}"})

    assert response.status_code == 200, response.text
    assert np.allclose(np.asarray(response.json()), expected_probabilities, atol=1e-6)


def test_rendered_gateway_refuses_a_request_without_the_key(gateway):
    container, ports, _keys = gateway
    base = probe_url(container, "readinessProbe", host_ports=ports).rstrip("/")

    response = httpx.post(f"{base}/score", json=SEED_REQUEST, timeout=30)

    assert response.status_code == 401


def test_rendered_gateway_pod_serves_with_the_engine_its_image_carries(gateway):
    container, ports, _keys = gateway
    base = probe_url(container, "readinessProbe", host_ports=ports).rstrip("/")

    health = httpx.get(f"{base}/", timeout=30).json()

    # `mlkube gateway run` (the pod's command) hands over to the binary beside its Python.
    assert health["engine"] == ("native" if image_binary() else "python")

"""An endpoint goes to the target its compute names: local, docker, or an attached cluster."""

from __future__ import annotations

import pytest
import yaml

from mlkube import KubernetesCompute, KubernetesOnlineEndpoint, MLClient
from mlkube.errors import ResourceNotFoundError, TargetError

UNREACHABLE = "https://127.0.0.1:9"  # nothing listens on the discard port


@pytest.fixture
def ml_client(tmp_path):
    return MLClient(workspace=str(tmp_path / "ws"))


def write_kubeconfig(path, server):
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": server,
                                                  "insecure-skip-tls-verify": True}}],
        "users": [{"name": "test", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test"}}],
    }))
    return path


def test_endpoint_on_attached_cluster_reaches_that_cluster(ml_client, tmp_path):
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", UNREACHABLE)
    ml_client.computes.attach(KubernetesCompute(
        name="k8s-compute", kubeconfig=str(kubeconfig), namespace="ml",
        registry="127.0.0.1:5000/mlkube"))
    endpoint = KubernetesOnlineEndpoint(name="iris-k8s", compute="k8s-compute")
    with pytest.raises(TargetError) as error:
        ml_client.online_endpoints.begin_create_or_update(endpoint, progress=None).result()
    # It tried the cluster of that compute (not "not available"), and says where it failed.
    assert "127.0.0.1:9" in str(error.value)


def test_endpoint_on_unknown_compute_names_it_and_how_to_attach(ml_client):
    endpoint = KubernetesOnlineEndpoint(name="iris-k8s", compute="no-such-cluster")
    with pytest.raises(ResourceNotFoundError) as error:
        ml_client.online_endpoints.begin_create_or_update(endpoint, progress=None).result()
    assert "no-such-cluster" in error.value.message
    assert "attach" in (error.value.hint or "")

"""The Kubernetes target behind the one ``Target`` protocol, and what a user sees when
the cluster of an attached compute cannot be used (no cluster needed)."""

from __future__ import annotations

import pytest

from mlkube.entities.compute import KubernetesCompute
from mlkube.errors import TargetError
from mlkube.targets.base import Target
from mlkube.targets.kubernetes.target import KubernetesTarget
from tests.kubernetes_io.kubeconfigs import closed_port, write_kubeconfig


def test_kubernetes_target_implements_the_target_protocol_without_connecting(tmp_path):
    # Constructing connects to nothing: operations can pick the target cheaply.
    target = KubernetesTarget(KubernetesCompute(name="k8s", kubeconfig=str(tmp_path / "x")))
    assert isinstance(target, Target)
    assert target.kind == "kubernetes"


def test_listing_endpoints_on_a_cluster_that_does_not_answer_says_where_it_looked(tmp_path):
    port = closed_port()
    config = write_kubeconfig(tmp_path / "config", server=f"https://127.0.0.1:{port}")
    target = KubernetesTarget(KubernetesCompute(name="k8s", kubeconfig=str(config),
                                                namespace="ml-serving"))
    with pytest.raises(TargetError) as caught:
        target.list_endpoints()
    assert f"https://127.0.0.1:{port}" in caught.value.message
    assert "listing Deployment objects" in caught.value.message


def test_a_compute_whose_kubeconfig_is_gone_fails_with_how_to_reattach(tmp_path):
    target = KubernetesTarget(KubernetesCompute(name="k8s", kubeconfig=str(tmp_path / "gone")))
    with pytest.raises(TargetError) as caught:
        target.get_endpoint("iris")
    assert "does not exist" in caught.value.message and "--kubeconfig" in caught.value.hint

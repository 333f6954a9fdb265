"""`mlkube compute check`: each question answered as a finding with a fix, from what the
cluster said; and against a real kubeconfig whose server does not answer."""

from __future__ import annotations

from mlkube.entities.compute import KubernetesCompute
from mlkube.errors import ClusterApiError, TargetError
from mlkube.targets.kubernetes.cluster import Cluster
from mlkube.targets.kubernetes.compute_check import ClusterFacts, findings, gather
from mlkube.targets.kubernetes.install import access_checks
from tests.kubernetes_io.kubeconfigs import closed_port, write_kubeconfig


def facts(**changes) -> ClusterFacts:
    base = dict(compute="aks", namespace="ml-serving", server="https://aks.example.com:443",
                server_version="v1.29.4", namespace_exists=True, denied=())
    return ClusterFacts(**{**base, **changes})


def codes(found) -> list[str]:
    return [f.code for f in found]


def test_a_ready_compute_reports_only_passing_checks():
    found = findings(facts())
    assert {f.severity for f in found} == {"info"}
    assert codes(found) == ["api-server-reachable", "namespace-exists", "rbac-complete",
                            "registry-set"]
    assert f"all {len(access_checks())} permissions" in found[2].message


def test_a_cluster_without_the_metrics_api_is_warned_that_cpu_autoscaling_will_not_act():
    found = findings(facts(metrics_api=False))
    (missing,) = [f for f in found if f.code == "metrics-api-missing"]
    assert missing.severity == "warning"
    assert "target_utilization" in missing.message and "min_instances" in missing.message
    assert "metrics-server" in missing.fix and "min_instances: 0" in missing.fix
    # A warning, not an error: the compute is still usable.
    assert {f.severity for f in found} == {"info", "warning"}
    served = findings(facts(metrics_api=True))
    assert "metrics-api-served" in codes(served) and "metrics-api-missing" not in codes(served)


def test_missing_namespace_says_cluster_install_creates_it():
    (first, *_rest) = findings(facts(namespace_exists=False))
    assert first.code == "namespace-missing" and first.severity == "error"
    assert "mlkube cluster install --compute aks" in first.fix


def test_namespace_that_cannot_be_read_is_a_warning_not_an_error():
    found = findings(facts(namespace_exists=None))
    assert [f.severity for f in found if f.code == "namespace-unknown"] == ["warning"]


def test_denied_permissions_are_grouped_per_resource_with_the_role_to_bind():
    denied = (("patch", "deployments", "apps"), ("delete", "deployments", "apps"),
              ("list", "secrets", ""))
    found = [f for f in findings(facts(denied=denied)) if f.code == "rbac-denied"]
    assert [f.message.split(" in namespace")[0] for f in found] == [
        "This identity may not patch, delete deployments.apps",
        "This identity may not list secrets"]
    assert "gateways and inference servers" in found[0].message
    assert all("mlkube cluster user-role --compute aks" in f.fix for f in found)


def test_missing_registry_is_an_error_even_when_the_cluster_is_fine():
    error = TargetError("The compute has no image registry.", hint="Attach with --registry.")
    found = findings(facts(registry_error=error))
    assert found[0].code == "registry-missing" and found[0].fix == "Attach with --registry."


def test_access_review_itself_refused_is_reported_as_unknown():
    refused = ClusterApiError("Kubernetes refused asking: HTTP 403 Forbidden", code=403,
                              reason="Forbidden")
    found = findings(facts(denied=None, review_error=refused))
    assert "rbac-unknown" in codes(found)


def test_check_against_a_server_that_does_not_answer_reports_it_and_the_registry(tmp_path):
    port = closed_port()
    config = write_kubeconfig(tmp_path / "config", server=f"https://127.0.0.1:{port}")
    compute = KubernetesCompute(name="dev", kubeconfig=str(config), namespace="ml-serving",
                                registry="localhost:5000/team")

    gathered = gather(compute, connect=lambda: Cluster.connect(
        kubeconfig=compute.kubeconfig, context=compute.context, namespace=compute.namespace))
    found = findings(gathered)

    assert codes(found) == ["api-server-unreachable", "registry-set"]
    assert f"127.0.0.1:{port}" in found[0].message
    assert "kubectl" in found[0].fix


def test_check_with_a_missing_kubeconfig_and_no_registry_reports_both(tmp_path):
    compute = KubernetesCompute(name="dev", kubeconfig=str(tmp_path / "absent"))

    found = findings(gather(compute, connect=lambda: Cluster.connect(
        kubeconfig=compute.kubeconfig, context=None, namespace=compute.namespace)))

    assert sorted(codes(found)) == ["kubeconfig-unusable", "registry-missing"]

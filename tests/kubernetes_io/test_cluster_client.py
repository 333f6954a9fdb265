"""The cluster client's edges without a cluster: REST paths of the kinds mlkube applies,
API error ``Status`` objects turned into mlkube errors that keep their reason, and a real
kubeconfig whose file, context or server is wrong."""

from __future__ import annotations

import json

import pytest

from mlkube.errors import ClusterApiError, TargetError
from mlkube.targets.kubernetes.cluster import Cluster, api_error, manifest_path, object_path
from tests.kubernetes.scenarios import SCENARIOS
from tests.kubernetes_io.kubeconfigs import closed_port, write_kubeconfig

#: What the API server sends for a forbidden server-side apply.
FORBIDDEN = {
    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
    "message": 'deployments.apps "iris-blue-43b8a8fb" is forbidden: User "alice" cannot patch '
               'resource "deployments" in API group "apps" in the namespace "ml-serving"',
    "reason": "Forbidden",
    "details": {"name": "iris-blue-43b8a8fb", "group": "apps", "kind": "deployments"},
    "code": 403,
}
INVALID = {
    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
    "message": 'Deployment.apps "iris-blue-43b8a8fb" is invalid: spec.template.spec.containers'
               '[0].resources.requests: Invalid value: "4": must be less than or equal to '
               'cpu limit of 2',
    "reason": "Invalid", "code": 422,
}


def test_every_rendered_object_has_a_rest_path_in_its_namespace():
    for manifest in SCENARIOS["canary-with-mirror"].render():
        path = manifest_path(manifest)
        namespace = manifest["metadata"]["namespace"]
        assert f"/namespaces/{namespace}/" in path, path
        assert path.endswith("/" + manifest["metadata"]["name"])


@pytest.mark.parametrize(("kind", "expected"), [
    ("Deployment", "/apis/apps/v1/namespaces/ml/deployments/x"),
    ("Secret", "/api/v1/namespaces/ml/secrets/x"),
    ("HorizontalPodAutoscaler", "/apis/autoscaling/v2/namespaces/ml/horizontalpodautoscalers/x"),
    ("Ingress", "/apis/networking.k8s.io/v1/namespaces/ml/ingresses/x"),
    ("Namespace", "/api/v1/namespaces/x"),
])
def test_object_paths_follow_the_api_groups(kind, expected):
    namespace = None if kind == "Namespace" else "ml"
    assert object_path(kind, namespace=namespace, name="x") == expected


def test_unknown_kind_is_refused_rather_than_guessed():
    with pytest.raises(TargetError, match="kind CronJob"):
        object_path("CronJob", namespace="ml")


def test_forbidden_keeps_the_status_reason_and_points_at_compute_check():
    error = api_error(403, json.dumps(FORBIDDEN), doing="applying Deployment iris-blue",
                      context="aks-prod")
    assert isinstance(error, ClusterApiError)
    assert (error.code, error.reason) == (403, "Forbidden")
    assert 'User "alice" cannot patch resource "deployments"' in error.message
    assert "aks-prod" in error.message
    assert "mlkube compute check" in error.hint


def test_invalid_object_keeps_the_field_the_api_rejected():
    error = api_error(422, json.dumps(INVALID).encode(), doing="applying Deployment x")
    assert error.reason == "Invalid"
    assert "must be less than or equal to cpu limit" in error.message


def test_expired_credentials_say_to_refresh_them():
    error = api_error(401, '{"kind":"Status","status":"Failure","message":"Unauthorized",'
                           '"reason":"Unauthorized","code":401}', doing="listing pods")
    assert "credentials" in error.hint and "get-credentials" in error.hint


def test_a_non_status_body_is_still_reported():
    error = api_error(503, b"upstream connect error", doing="listing pods")
    assert "upstream connect error" in error.message
    assert "run the command again" in error.hint


def test_unreachable_api_server_is_a_clear_error_naming_the_address(tmp_path):
    port = closed_port()
    config = write_kubeconfig(tmp_path / "config", server=f"https://127.0.0.1:{port}")
    cluster = Cluster.connect(kubeconfig=config, context=None, namespace="ml-serving")
    try:
        with pytest.raises(TargetError) as caught:
            cluster.server_version()
    finally:
        cluster.close()
    assert f"https://127.0.0.1:{port}" in caught.value.message
    assert "(context dev)" in caught.value.message
    assert "Connection refused" in caught.value.message
    assert "kubectl --context dev get ns" in caught.value.hint


def test_missing_kubeconfig_file_says_how_to_attach_another(tmp_path):
    with pytest.raises(TargetError) as caught:
        Cluster.connect(kubeconfig=tmp_path / "absent", context=None, namespace="ml")
    assert "does not exist" in caught.value.message
    assert "--kubeconfig" in caught.value.hint


def test_unknown_context_names_it_and_how_to_list_contexts(tmp_path):
    config = write_kubeconfig(tmp_path / "config", server="https://127.0.0.1:1")
    with pytest.raises(TargetError) as caught:
        Cluster.connect(kubeconfig=config, context="prod", namespace="ml")
    assert "context prod" in caught.value.message
    assert "kubectl config get-contexts" in caught.value.hint


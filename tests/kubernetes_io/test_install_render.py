"""What `mlkube cluster install` applies and the Role it documents: valid for the
Kubernetes API (strict schema, 1.28 and newest), labelled so uninstall finds only them,
and stable so applying twice changes nothing."""

from __future__ import annotations

import pytest
from kubernetes_validate import utils as kv

from mlkube.targets.kubernetes.install import (
    INSTALL_SELECTOR,
    REQUIRED_ACCESS,
    access_checks,
    deployer_role,
    install_manifests,
)

VERSIONS = ("1.28.0", kv.latest_version())


@pytest.mark.parametrize("version", VERSIONS)
def test_install_and_deployer_role_pass_strict_schema_validation(version):
    objects = [*install_manifests("ml-serving"),
               *deployer_role("ml-serving", subject="alice@example.com"),
               *deployer_role("ml-serving", subject="ci", subject_kind="ServiceAccount")]
    failures = []
    for manifest in objects:
        try:
            kv.validate(manifest, version, strict=True)
        except kv.ValidationError as error:
            failures.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {error}")
    assert not failures, "\n".join(failures)


def test_install_is_the_same_every_time_so_reapplying_changes_nothing():
    assert install_manifests("ml-serving") == install_manifests("ml-serving")


def test_every_installed_object_carries_the_labels_uninstall_selects_by():
    wanted = dict(pair.split("=") for pair in INSTALL_SELECTOR.split(","))
    for manifest in install_manifests("ml-serving"):
        assert wanted.items() <= manifest["metadata"]["labels"].items(), manifest["kind"]


def test_an_existing_namespace_is_not_taken_over():
    kinds = [m["kind"] for m in install_manifests("default", create_namespace=False)]
    assert "Namespace" not in kinds


def test_workload_account_gets_no_api_token():
    account = next(m for m in install_manifests("ns") if m["kind"] == "ServiceAccount")
    assert account["automountServiceAccountToken"] is False


def test_only_gateway_pods_may_reach_inference_servers():
    policy = next(m for m in install_manifests("ns") if m["kind"] == "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "mlkube-inference-server"}
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "mlkube-gateway"}}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5001}]


def test_deployer_role_grants_exactly_the_access_compute_check_asks_for():
    (role,) = deployer_role("ns")
    granted = {(verb, resource, rule["apiGroups"][0])
               for rule in role["rules"] for resource in rule["resources"]
               for verb in rule["verbs"]}
    assert granted == set(access_checks())
    # Server-side apply is a PATCH, and state is read back by LIST: both must be there.
    assert ("patch", "deployments", "apps") in granted
    assert ("list", "secrets", "") in granted
    assert all(access.why for access in REQUIRED_ACCESS)


def test_deployer_role_never_touches_cluster_wide_objects():
    (role,) = deployer_role("ns")
    assert role["kind"] == "Role"  # not a ClusterRole
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert not resources & {"namespaces", "nodes", "clusterroles", "clusterrolebindings"}
    # It writes the gateway's scale-to-zero Role in its namespace, which the API server
    # lets it grant only with rights it holds itself: no escalate or bind verb.
    assert {"roles", "rolebindings", "deployments/scale"} <= resources
    verbs = {v for rule in role["rules"] for v in rule["verbs"]}
    assert not verbs & {"escalate", "bind", "impersonate", "*"}

"""Attaching a cluster as a user with only the access mlkube documents: ``compute check``
asks the real API server (one SelfSubjectAccessReview per permission, against RBAC) and
passes for a ServiceAccount bound to the deployer Role that ``mlkube cluster user-role``
prints, names what is missing for one bound to nothing, and that deployer can really
create and delete an endpoint. ``cluster install`` is idempotent and ``cluster uninstall``
removes only what install made.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlkube.entities.online_endpoint import KubernetesOnlineEndpoint
from tests.kubernetes_live.conftest import (
    COMPUTE,
    LiveCluster,
    attach_workspace,
    delete_namespace,
    unique_namespace,
)

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def namespace(live_cluster: LiveCluster) -> Iterator[str]:
    """A namespace an administrator made (not mlkube), deleted at the end."""
    from kubernetes import client

    name = unique_namespace("t-access")
    with live_cluster.api() as api:
        client.CoreV1Api(api).create_namespace(client.V1Namespace(
            metadata=client.V1ObjectMeta(name=name)))
    yield name
    delete_namespace(live_cluster, name)


def _service_account_kubeconfig(live_cluster: LiveCluster, namespace: str, account: str,
                                folder: Path) -> Path:
    """A kubeconfig acting as ServiceAccount ``account``: a token from the TokenRequest
    API and the cluster's CA, the way a CI system is given a deploy identity."""
    from kubernetes import client

    with live_cluster.api() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_service_account(namespace, client.V1ServiceAccount(
            metadata=client.V1ObjectMeta(name=account)))
        token = core.create_namespaced_service_account_token(
            account, namespace, client.AuthenticationV1TokenRequest(
                spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))
        ).status.token
    admin = yaml.safe_load(live_cluster.kubeconfig.read_text())
    cluster = admin["clusters"][0]["cluster"]
    path = folder / f"{account}.kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "live", "cluster": cluster}],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": "live", "user": account,
                                                    "namespace": namespace}}],
        "current-context": account,
    }))
    path.chmod(0o600)
    return path


def _apply(live_cluster: LiveCluster, manifests: str) -> None:
    from kubernetes import utils

    with live_cluster.api() as api:
        for document in yaml.safe_load_all(manifests):
            if document:
                utils.create_from_dict(api, document)


def _check(workspace: Any) -> tuple[int, list[dict[str, Any]]]:
    done = workspace.mlkube("compute", "check", COMPUTE, "-o", "json", check=False)
    return done.returncode, json.loads(done.stdout)


def test_a_service_account_with_only_the_deployer_role_passes_compute_check_and_deploys(
    live_cluster: LiveCluster, namespace: str, tmp_path: Path,
) -> None:
    admin_ws = attach_workspace(tmp_path / "admin", live_cluster, namespace)
    role = admin_ws.mlkube("cluster", "user-role", "--namespace", namespace, "--subject",
                           "deployer", "--subject-kind", "ServiceAccount").stdout
    assert "kind: Role" in role and "kind: RoleBinding" in role
    kubeconfig = _service_account_kubeconfig(live_cluster, namespace, "deployer", tmp_path)
    _apply(live_cluster, role)

    deployer = attach_workspace(tmp_path / "deployer", live_cluster, namespace,
                                kubeconfig=kubeconfig)
    code, found = _check(deployer)
    assert code == 0, found
    codes = {f["code"]: f for f in found}
    assert "rbac-complete" in codes and "rbac-denied" not in codes
    # The test cluster runs metrics-server: CPU autoscaling will act.
    assert codes["metrics-api-served"]["severity"] == "info"
    # A namespaced Role cannot read Namespaces: said as a warning, not a failure.
    assert codes["namespace-unknown"]["severity"] == "warning"

    # The Role is enough for what mlkube does: create an endpoint, read it, delete it.
    client = deployer.client()
    created = client.online_endpoints.begin_create_or_update(KubernetesOnlineEndpoint(
        name="rbac-proof", compute=COMPUTE, auth_mode="key")).result()
    assert created.provisioning_state == "Succeeded"
    assert [e.name for e in client.online_endpoints.list()] == ["rbac-proof"]
    client.online_endpoints.begin_delete("rbac-proof").result()
    assert client.online_endpoints.list() == []


def test_compute_check_names_each_permission_an_identity_without_rights_lacks(
    live_cluster: LiveCluster, namespace: str, tmp_path: Path,
) -> None:
    kubeconfig = _service_account_kubeconfig(live_cluster, namespace, "nobody", tmp_path)
    workspace = attach_workspace(tmp_path / "ws", live_cluster, namespace,
                                 kubeconfig=kubeconfig)
    code, found = _check(workspace)
    assert code == 1
    denied = [f for f in found if f["code"] == "rbac-denied"]
    messages = "\n".join(f["message"] for f in denied)
    for needed in ("deployments.apps", "secrets", "configmaps", "services", "pods/log"):
        assert needed in messages
    assert all(f"mlkube cluster user-role --compute {COMPUTE}" in f["fix"] for f in denied)
    # Said without a traceback, in the table users read too.
    table = workspace.mlkube("compute", "check", COMPUTE, check=False)
    assert table.returncode == 1 and "Traceback" not in table.stdout + table.stderr
    assert "[FAIL] This identity may not" in table.stdout


def _installed(live_cluster: LiveCluster, namespace: str) -> dict[str, str]:
    """Install's objects in ``namespace``, by kind/name, with their resourceVersions."""
    from kubernetes import client

    selector = "app.kubernetes.io/managed-by=mlkube,mlkube.io/installed-by=cluster-install"
    with live_cluster.api() as api:
        core, net = client.CoreV1Api(api), client.NetworkingV1Api(api)
        items = [*core.list_namespaced_service_account(namespace, label_selector=selector).items,
                 *net.list_namespaced_network_policy(namespace, label_selector=selector).items]
        return {f"{type(o).__name__}/{o.metadata.name}": o.metadata.resource_version
                for o in items}


def test_install_twice_changes_nothing_and_uninstall_keeps_what_was_not_installs(
    live_cluster: LiveCluster, namespace: str, tmp_path: Path,
) -> None:
    from kubernetes import client

    workspace = attach_workspace(tmp_path / "ws", live_cluster, namespace)
    with live_cluster.api() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_config_map(namespace, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="team-settings")))
        core.create_namespaced_service_account(namespace, client.V1ServiceAccount(
            metadata=client.V1ObjectMeta(name="team-bot")))
    first = json.loads(workspace.mlkube("cluster", "install", "--compute", COMPUTE,
                                        "-o", "json").stdout)
    versions = _installed(live_cluster, namespace)
    assert set(versions) == {"V1ServiceAccount/mlkube-workload",
                             "V1NetworkPolicy/mlkube-inference-from-gateway"}
    # The namespace was the administrator's: install neither applies nor claims it.
    assert "Namespace/" + namespace not in first["applied"]
    second = json.loads(workspace.mlkube("cluster", "install", "--compute", COMPUTE,
                                         "-o", "json").stdout)
    assert second["applied"] == first["applied"]
    assert _installed(live_cluster, namespace) == versions  # not even rewritten

    removed = json.loads(workspace.mlkube("cluster", "uninstall", "--compute", COMPUTE,
                                          "-o", "json").stdout)
    assert sorted(removed["deleted"]) == ["NetworkPolicy/mlkube-inference-from-gateway",
                                          "ServiceAccount/mlkube-workload"]
    assert _installed(live_cluster, namespace) == {}
    with live_cluster.api() as api:
        core = client.CoreV1Api(api)
        assert core.read_namespace(namespace).status.phase == "Active"
        assert core.read_namespaced_config_map("team-settings", namespace)
        assert core.read_namespaced_service_account("team-bot", namespace)


def test_uninstall_deletes_a_namespace_install_created(live_cluster: LiveCluster,
                                                       tmp_path: Path) -> None:
    from kubernetes import client

    namespace = unique_namespace("t-own")
    workspace = attach_workspace(tmp_path / "ws", live_cluster, namespace)
    try:
        done = json.loads(workspace.mlkube("cluster", "install", "--compute", COMPUTE,
                                           "-o", "json").stdout)
        assert f"Namespace/{namespace}" in done["applied"]
        removed = json.loads(workspace.mlkube("cluster", "uninstall", "--compute", COMPUTE,
                                              "-o", "json").stdout)
        assert f"Namespace/{namespace}" in removed["deleted"]
        with live_cluster.api() as api:
            phase = client.CoreV1Api(api).read_namespace(namespace).status.phase
            assert phase == "Terminating"
    except client.ApiException as error:
        assert error.status == 404  # already gone
    finally:
        delete_namespace(live_cluster, namespace)


def test_a_token_for_another_cluster_is_refused_with_how_to_refresh_it(
    live_cluster: LiveCluster, namespace: str, tmp_path: Path,
) -> None:
    config = yaml.safe_load(live_cluster.kubeconfig.read_text())
    config["users"][0]["user"] = {"token": base64.urlsafe_b64encode(b"forged").decode()}
    forged = tmp_path / "forged.kubeconfig"
    forged.write_text(yaml.safe_dump(config))
    workspace = attach_workspace(tmp_path / "ws", live_cluster, namespace, kubeconfig=forged)
    code, found = _check(workspace)
    assert code == 1
    (unreachable,) = [f for f in found if f["code"] == "api-server-unreachable"]
    assert "HTTP 401" in unreachable["message"]
    assert "credentials" in unreachable["fix"]

"""What mlkube sets up once per cluster namespace, and the access it needs there.

``mlkube cluster install`` is the seed's "deploy the Azure ML extension" step, made small:
mlkube runs no controller in the cluster, so there is nothing cluster-wide to install.
Per namespace it applies:

- the ``Namespace`` itself, when it does not exist yet;
- ``mlkube-workload``, a ServiceAccount for mlkube's in-cluster parts (jobs and anything
  without an account of its own). It is bound to no Role and mounts no token: the
  inference server never calls the Kubernetes API, so the least privilege it needs is
  none (a gateway has its own account, bound only to the scale of its endpoint's
  scale-to-zero Deployments: ``gateway_manifests.scale_access``);
- a ``NetworkPolicy`` letting only gateway pods reach inference-server pods, so no one in
  the cluster can skip the endpoint's auth by calling a deployment's Service directly
  (where the network plugin enforces policies).

The Role a *deploying user* needs (``deployer_role``) is rendered for an administrator
to bind, never granted by mlkube itself; ``REQUIRED_ACCESS`` is the same list, checked
one ``SelfSubjectAccessReview`` at a time by ``mlkube compute check``.

Rendering is pure (dicts in apply order, validated by ``kubernetes-validate``);
``install`` and ``uninstall`` apply it through a ``cluster.Cluster`` handed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlkube.entities.container_layout import SERVER_PORT
from mlkube.targets.kubernetes import labels as lbl

INSTALLED_BY = "mlkube.io/installed-by"
INSTALLER = "cluster-install"
#: Selects exactly what ``install_manifests`` made (uninstall deletes only these).
INSTALL_SELECTOR = f"{lbl.MANAGED_BY}={lbl.MANAGER},{INSTALLED_BY}={INSTALLER}"
WORKLOAD_ACCOUNT = "mlkube-workload"
NETWORK_POLICY = "mlkube-inference-from-gateway"
DEPLOYER_ROLE = "mlkube-deployer"
#: Kinds install applies inside the namespace (uninstall looks at these only).
INSTALL_KINDS = ("ServiceAccount", "NetworkPolicy")


@dataclass(frozen=True)
class Access:
    """Verbs on one resource mlkube needs in the compute's namespace."""

    group: str
    resource: str
    verbs: tuple[str, ...]
    why: str


_WRITE = ("get", "list", "watch", "create", "update", "patch", "delete")
_READ = ("get", "list", "watch")

#: Everything a deploying identity does in the namespace: apply, read back, delete,
#: and watch rollouts. Server-side apply is ``patch``; reading state back is ``list``.
REQUIRED_ACCESS: tuple[Access, ...] = (
    Access("", "serviceaccounts", _WRITE, "the gateway's own account; the workload "
           "account jobs run as"),
    Access("", "secrets", _WRITE, "endpoint keys, jobs' tracking settings"),
    Access("", "configmaps", _WRITE, "gateway traffic and mirror rules"),
    Access("", "services", _WRITE, "scoring URIs"),
    Access("apps", "deployments", _WRITE, "gateways and inference servers"),
    # A Role may grant only what its author holds: the gateway's scale-to-zero Role.
    Access("apps", "deployments/scale", ("get", "patch", "update"),
           "granted to a gateway for scale to zero"),
    Access("rbac.authorization.k8s.io", "roles", _WRITE,
           "the gateway's Role for scale to zero"),
    Access("rbac.authorization.k8s.io", "rolebindings", _WRITE,
           "binding that Role to the gateway's account"),
    Access("autoscaling", "horizontalpodautoscalers", _WRITE, "target_utilization scaling"),
    Access("policy", "poddisruptionbudgets", _WRITE, "instances surviving node drains"),
    Access("networking.k8s.io", "ingresses", _WRITE, "endpoints behind an Ingress"),
    Access("batch", "jobs", _WRITE, "command jobs on the cluster"),
    Access("apps", "replicasets", _READ, "telling a rollout's new pods from old ones"),
    Access("", "pods", _READ, "rollout and job progress and failures"),
    Access("", "pods/log", ("get",), "get_logs, job logs and crash causes"),
    Access("", "events", _READ, "why a pod is not scheduled or not ready"),
)


def install_labels() -> dict[str, str]:
    return {lbl.MANAGED_BY: lbl.MANAGER, lbl.PART_OF: "mlkube", INSTALLED_BY: INSTALLER}


def install_manifests(namespace: str, *, create_namespace: bool = True) -> list[dict[str, Any]]:
    """The objects of one namespace's install, in apply order.

    ``create_namespace`` False leaves the Namespace out (it exists and is not mlkube's:
    applying it would let uninstall delete someone else's namespace).
    """
    labels = install_labels()
    objects: list[dict[str, Any]] = []
    if create_namespace:
        objects.append({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": namespace, "labels": labels}})
    objects.append({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": WORKLOAD_ACCOUNT, "namespace": namespace, "labels": labels},
        # Nothing mlkube runs calls the API: no token in any pod using this account.
        "automountServiceAccountToken": False,
    })
    objects.append({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": NETWORK_POLICY, "namespace": namespace, "labels": labels},
        "spec": {
            "podSelector": {"matchLabels": {lbl.NAME: f"mlkube-{lbl.INFERENCE_SERVER}"}},
            "policyTypes": ["Ingress"],
            "ingress": [{
                "from": [{"podSelector": {"matchLabels": {lbl.NAME: f"mlkube-{lbl.GATEWAY}"}}}],
                "ports": [{"protocol": "TCP", "port": SERVER_PORT}],
            }],
        },
    })
    return objects


def deployer_role(namespace: str, *, subject: str | None = None,
                  subject_kind: str = "User") -> list[dict[str, Any]]:
    """The Role (and, given a ``subject``, its RoleBinding) a deploying user needs in
    ``namespace``; for an administrator to review and apply."""
    labels = {lbl.MANAGED_BY: lbl.MANAGER, lbl.PART_OF: "mlkube"}
    by_group: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for access in REQUIRED_ACCESS:
        by_group.setdefault((access.group, access.verbs), []).append(access.resource)
    rules = [{"apiGroups": [group], "resources": resources, "verbs": list(verbs)}
             for (group, verbs), resources in by_group.items()]
    objects: list[dict[str, Any]] = [{
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": DEPLOYER_ROLE, "namespace": namespace, "labels": labels},
        "rules": rules,
    }]
    if subject:
        subject_entry: dict[str, Any] = {"kind": subject_kind, "name": subject}
        if subject_kind == "ServiceAccount":
            subject_entry["namespace"] = namespace
        else:
            subject_entry["apiGroup"] = "rbac.authorization.k8s.io"
        objects.append({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": f"{DEPLOYER_ROLE}-{_binding_suffix(subject)}",
                         "namespace": namespace, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                        "name": DEPLOYER_ROLE},
            "subjects": [subject_entry],
        })
    return objects


def access_checks() -> list[tuple[str, str, str]]:
    """Every (verb, resource, group) mlkube needs, one access review each."""
    return [(verb, access.resource, access.group)
            for access in REQUIRED_ACCESS for verb in access.verbs]


def _binding_suffix(subject: str) -> str:
    from mlkube.targets.kubernetes.names import dns_label

    return dns_label(subject.split(":")[-1] or "subject", unique_by=("subject", subject))[:40]


# --- applying (through a ``cluster.Cluster``; the functions above stay pure) ---------------


def install(cluster: Any, *, progress: Callable[[str], None]) -> list[str]:
    """Apply the install to ``cluster``'s namespace, idempotently; what was applied."""
    namespace = cluster.namespace
    found = cluster.namespace_exists()
    ours = False
    if found:
        existing = cluster.get("Namespace", namespace) or {}
        ours = ((existing.get("metadata") or {}).get("labels") or {}).get(
            INSTALLED_BY) == INSTALLER
    # A namespace we cannot read (None) or that someone else made is left alone.
    manifests = install_manifests(namespace, create_namespace=found is False or ours)
    applied = []
    for manifest in manifests:
        progress(f"applying {manifest['kind']} {manifest['metadata']['name']}")
        cluster.apply(manifest)
        applied.append(f"{manifest['kind']}/{manifest['metadata']['name']}")
    return applied


def uninstall(cluster: Any, *, progress: Callable[[str], None],
              force: bool = False) -> list[str]:
    """Delete what ``install`` made, and nothing else; refused while endpoints remain
    (deleting mlkube's namespace would delete them) unless ``force``."""
    from mlkube.errors import ConflictError

    gateways = cluster.list_objects("Deployment", selector=f"{lbl.MANAGED_BY}={lbl.MANAGER},"
                                                   f"{lbl.COMPONENT}={lbl.GATEWAY}")
    names = sorted({(g["metadata"].get("labels") or {}).get(lbl.ENDPOINT, "?")
                    for g in gateways})
    if names and not force:
        raise ConflictError(
            f"Namespace {cluster.namespace} still has endpoints: {', '.join(names)}.",
            hint="Delete them first (`mlkube online-endpoint delete -n NAME`), or pass "
                 "--force to remove the install anyway (endpoints then lose the network "
                 "policy, and are deleted with the namespace if mlkube created it).")
    objects = cluster.list_managed(INSTALL_SELECTOR, kinds=INSTALL_KINDS)
    deleted = cluster.delete_objects(objects)
    namespace = cluster.get("Namespace", cluster.namespace)
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
    if labels.get(INSTALLED_BY) == INSTALLER:
        cluster.delete("Namespace", cluster.namespace)
        deleted.append(f"Namespace/{cluster.namespace}")
    for item in deleted:
        progress(f"deleted {item}")
    return deleted

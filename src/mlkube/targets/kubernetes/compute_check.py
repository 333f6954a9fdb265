"""``mlkube compute check NAME``: can this machine deploy to an attached cluster?

Five questions, each answered as a finding with a fix: is the registry set (and well
formed), does the API server answer with the kubeconfig's credentials, does the
namespace exist, does the cluster serve the resource metrics API that a
``target_utilization`` deployment's HorizontalPodAutoscaler reads (without it the HPA
never scales, and says so only in its own events), and may this identity do everything
mlkube does there (one ``SelfSubjectAccessReview`` per verb and resource of
``install.REQUIRED_ACCESS``).

``gather`` does the I/O and records what it saw in ``ClusterFacts``; ``findings`` turns
facts into findings and is pure, so every answer is tested without a cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from mlkube.entities.compute import KubernetesCompute
from mlkube.errors import MlkubeError, ValidationError
from mlkube.targets.kubernetes.images import check_registry
from mlkube.targets.kubernetes.install import REQUIRED_ACCESS, access_checks

Severity = Literal["error", "warning", "info"]

#: The resource metrics API (metrics-server) that CPU-based HPAs read.
METRICS_API = "metrics.k8s.io/v1beta1"


@dataclass(frozen=True)
class ComputeFinding:
    """One answer (the doctor's shape: code, severity, message, fix)."""

    code: str
    severity: Severity
    message: str
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ClusterFacts:
    """What one check of a compute saw."""

    compute: str
    namespace: str
    registry_error: MlkubeError | None = None
    #: Why no connection was made (kubeconfig or server), None when the server answered.
    connection_error: MlkubeError | None = None
    server: str | None = None
    server_version: str | None = None
    #: True / False, or None when the identity may not read namespaces.
    namespace_exists: bool | None = None
    #: Whether metrics.k8s.io is served; None when not asked or not answerable.
    metrics_api: bool | None = None
    #: (verb, resource, group) this identity may not do; None when it could not be asked.
    denied: tuple[tuple[str, str, str], ...] | None = field(default=())
    review_error: MlkubeError | None = None


def gather(compute: KubernetesCompute, *, connect: Callable[[], Any]) -> ClusterFacts:
    """Ask the cluster; every failure is recorded, never raised."""
    registry_error = None
    try:
        check_registry(compute.registry)
    except ValidationError as error:
        registry_error = error
    facts = ClusterFacts(compute=compute.name, namespace=compute.namespace,
                         registry_error=registry_error, denied=None)
    try:
        cluster = connect()
    except MlkubeError as error:
        return replace(facts, connection_error=error)
    try:
        facts = replace(facts, server=cluster.server)
        try:
            facts = replace(facts, server_version=cluster.server_version())
        except MlkubeError as error:
            return replace(facts, connection_error=error)
        facts = replace(facts, namespace_exists=cluster.namespace_exists())
        try:
            facts = replace(facts, metrics_api=cluster.serves_api(METRICS_API))
        except MlkubeError:
            pass  # an odd answer to discovery: the other questions still get answered
        denied: list[tuple[str, str, str]] = []
        try:
            for verb, resource, group in access_checks():
                if not cluster.can_i(verb, resource, group=group).allowed:
                    denied.append((verb, resource, group))
        except MlkubeError as error:
            return replace(facts, review_error=error)
        return replace(facts, denied=tuple(denied))
    finally:
        cluster.close()


def findings(facts: ClusterFacts) -> list[ComputeFinding]:
    """The answers, errors first."""
    found: list[ComputeFinding] = []
    install = f"mlkube cluster install --compute {facts.compute}"
    if facts.registry_error is not None:
        found.append(ComputeFinding("registry-missing", "error", facts.registry_error.message,
                                    facts.registry_error.hint or ""))
    if facts.connection_error is not None:
        found.append(ComputeFinding(
            "api-server-unreachable" if facts.server else "kubeconfig-unusable", "error",
            facts.connection_error.message, facts.connection_error.hint or ""))
        return _sorted(found + _passed_registry(facts))
    found.append(ComputeFinding(
        "api-server-reachable", "info",
        f"The API server at {facts.server} answers (Kubernetes {facts.server_version})."))
    if facts.namespace_exists is False:
        found.append(ComputeFinding(
            "namespace-missing", "error", f"Namespace {facts.namespace} does not exist.",
            f"Create it with `{install}` (or `kubectl create namespace {facts.namespace}`)."))
    elif facts.namespace_exists is None:
        found.append(ComputeFinding(
            "namespace-unknown", "warning",
            f"Cannot tell whether namespace {facts.namespace} exists: this identity may not "
            "read namespaces.",
            "Fine if a cluster admin created it for you; otherwise ask them to, or to run "
            f"`{install}`."))
    else:
        found.append(ComputeFinding("namespace-exists", "info",
                                    f"Namespace {facts.namespace} exists."))
    found.extend(_metrics_api(facts))
    if facts.review_error is not None:
        found.append(ComputeFinding(
            "rbac-unknown", "warning",
            f"Could not ask the cluster what this identity may do: "
            f"{facts.review_error.message}",
            "SelfSubjectAccessReview is allowed to every authenticated user by default; "
            "ask a cluster admin whether it was restricted."))
    elif facts.denied:
        by_resource: dict[str, list[str]] = {}
        for verb, resource, group in facts.denied:
            by_resource.setdefault(f"{resource}{f'.{group}' if group else ''}", []).append(verb)
        why = {f"{a.resource}{f'.{a.group}' if a.group else ''}": a.why for a in REQUIRED_ACCESS}
        for resource, verbs in sorted(by_resource.items()):
            found.append(ComputeFinding(
                "rbac-denied", "error",
                f"This identity may not {', '.join(verbs)} {resource} in namespace "
                f"{facts.namespace} (needed for {why.get(resource, 'deployments')}).",
                f"A cluster admin can bind the Role printed by `mlkube cluster user-role "
                f"--compute {facts.compute} --subject YOU`."))
    else:
        found.append(ComputeFinding(
            "rbac-complete", "info",
            f"This identity has all {len(access_checks())} permissions mlkube uses in "
            f"namespace {facts.namespace}."))
    return _sorted(found + _passed_registry(facts))


def _metrics_api(facts: ClusterFacts) -> list[ComputeFinding]:
    if facts.metrics_api is None:
        return []
    if facts.metrics_api:
        return [ComputeFinding(
            "metrics-api-served", "info",
            f"The cluster serves the resource metrics API ({METRICS_API}): deployments "
            "with scale_settings type target_utilization scale on CPU use.")]
    return [ComputeFinding(
        "metrics-api-missing", "warning",
        f"The cluster does not serve the resource metrics API ({METRICS_API}): a "
        "deployment with scale_settings type target_utilization gets a "
        "HorizontalPodAutoscaler that cannot read CPU use, so it stays at min_instances.",
        "Install metrics-server (github.com/kubernetes-sigs/metrics-server) until "
        "`kubectl get apiservice v1beta1.metrics.k8s.io` says Available; or use "
        "scale_settings type default. Scale to zero (min_instances: 0) does not need it: "
        "the gateway scales from its own request counts.")]


def _passed_registry(facts: ClusterFacts) -> list[ComputeFinding]:
    if facts.registry_error is not None:
        return []
    return [ComputeFinding("registry-set", "info",
                           "The compute names an image registry for deployment images.")]


def _sorted(found: list[ComputeFinding]) -> list[ComputeFinding]:
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(found, key=lambda f: order[f.severity])

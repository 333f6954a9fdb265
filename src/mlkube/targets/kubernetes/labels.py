"""The labels every mlkube object carries, and the selectors built from them.

The cluster is mlkube's state store: ``list`` and ``get`` find endpoints and deployments
by these labels, ``delete`` removes exactly what carries them, and ``kubectl get -l
mlkube.io/endpoint=<name>`` shows one endpoint. Label values are the user's exact names
(Azure ML's name rule keeps them valid label values), so names read back unchanged.
"""

from __future__ import annotations

MANAGED_BY = "app.kubernetes.io/managed-by"
NAME = "app.kubernetes.io/name"
COMPONENT = "app.kubernetes.io/component"
INSTANCE = "app.kubernetes.io/instance"
PART_OF = "app.kubernetes.io/part-of"
ENDPOINT = "mlkube.io/endpoint"
DEPLOYMENT = "mlkube.io/deployment"

MANAGER = "mlkube"
GATEWAY = "gateway"
INFERENCE_SERVER = "inference-server"


def selector_labels(endpoint: str, deployment: str | None = None) -> dict[str, str]:
    """Labels that pick one endpoint's gateway pods, or one deployment's inference pods."""
    labels = {
        NAME: f"mlkube-{INFERENCE_SERVER if deployment else GATEWAY}",
        ENDPOINT: endpoint,
    }
    if deployment is not None:
        labels[DEPLOYMENT] = deployment
    return labels


def object_labels(endpoint: str, deployment: str | None = None, *, instance: str) -> dict[str, str]:
    """All labels of an object of ``endpoint`` (and of ``deployment`` when given)."""
    return {
        **selector_labels(endpoint, deployment),
        COMPONENT: INFERENCE_SERVER if deployment else GATEWAY,
        INSTANCE: instance,
        PART_OF: "mlkube",
        MANAGED_BY: MANAGER,
    }


def endpoint_selector(endpoint: str) -> str:
    """A label selector (``kubectl -l`` syntax) for everything of one endpoint."""
    return f"{MANAGED_BY}={MANAGER},{ENDPOINT}={endpoint}"

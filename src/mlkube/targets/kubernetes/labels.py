"""The labels every mlkube object carries, and the selectors built from them.

The cluster is mlkube's state store: ``list`` and ``get`` find endpoints and deployments
by these labels, ``delete`` removes exactly what carries them, and ``kubectl get -l
mlkube.io/endpoint=<name>`` shows one endpoint. Label values are the user's exact names
(Azure ML's name rule keeps them valid label values), so names read back unchanged.
"""

from __future__ import annotations

import re

MANAGED_BY = "app.kubernetes.io/managed-by"
NAME = "app.kubernetes.io/name"
COMPONENT = "app.kubernetes.io/component"
INSTANCE = "app.kubernetes.io/instance"
PART_OF = "app.kubernetes.io/part-of"
ENDPOINT = "mlkube.io/endpoint"
DEPLOYMENT = "mlkube.io/deployment"
JOB = "mlkube.io/job"

MANAGER = "mlkube"
GATEWAY = "gateway"
INFERENCE_SERVER = "inference-server"
COMMAND_JOB = "command-job"

# Kubernetes label values: up to 63 characters, alphanumeric at both ends.
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$")


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


def job_label(job: str, object_name: str) -> str:
    """The ``mlkube.io/job`` value of a command job: its name when that is a valid label
    value (generated names are), else its object name (its exact name is an annotation)."""
    return job if _LABEL_VALUE.match(job) else object_name


def job_labels(job: str, object_name: str) -> dict[str, str]:
    """All labels of a command job's objects and of its pod."""
    return {
        NAME: f"mlkube-{COMMAND_JOB}",
        JOB: job_label(job, object_name),
        COMPONENT: COMMAND_JOB,
        INSTANCE: object_name,
        PART_OF: "mlkube",
        MANAGED_BY: MANAGER,
    }


def job_selector(job: str, object_name: str) -> str:
    """A label selector for a command job's objects and pods."""
    return f"{MANAGED_BY}={MANAGER},{JOB}={job_label(job, object_name)}"

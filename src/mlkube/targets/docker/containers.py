"""What the docker target's containers are called, carry and run with (pure).

An endpoint on ``compute: docker`` keeps its state in the same folder as a local one
(``targets/local/state.py``); what differs is that each instance is a container. Its
name, labels and variables are derived here from that folder and the deployment, so the
instance program that starts a container and the target that cleans up after it always
agree on which containers are whose.

Labels: ``mlkube.io/endpoint`` and ``mlkube.io/deployment`` (the user's names, as on
Kubernetes), ``app.kubernetes.io/managed-by=mlkube``, and ``mlkube.io/endpoint-state``
(the endpoint's state folder), because two workspaces on one machine may each have an
endpoint called ``blue``: cleanup removes only the containers of *this* endpoint.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from mlkube.targets.base import PreparedDeployment
from mlkube.targets.docker.engine import MANAGED_BY_LABEL, MANAGED_BY_VALUE

ENDPOINT_LABEL = "mlkube.io/endpoint"
DEPLOYMENT_LABEL = "mlkube.io/deployment"
STATE_LABEL = "mlkube.io/endpoint-state"
#: The variable carrying the container's environment (JSON) to the instance program: in
#: its environment rather than its argv, so values never show in ``ps``.
CONTAINER_ENV_VARIABLE = "MLKUBE_CONTAINER_ENV"

_NOT_NAME_CHAR = re.compile(r"[^a-z0-9_.-]+")


def endpoint_labels(state_dir: Path, endpoint: str) -> dict[str, str]:
    """The labels that select every container of one endpoint (of one workspace)."""
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE, ENDPOINT_LABEL: endpoint,
            STATE_LABEL: str(state_dir)}


def deployment_labels(state_dir: Path, endpoint: str, deployment: str) -> dict[str, str]:
    """The labels of every container of one deployment."""
    return {**endpoint_labels(state_dir, endpoint), DEPLOYMENT_LABEL: deployment}


def container_name(state_dir: Path, endpoint: str, program: str) -> str:
    """``mlkube-<endpoint>-<instance program>-<state hash>``: readable in ``docker ps``,
    and unique per workspace, so one never replaces another's container."""
    digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:8]
    return f"mlkube-{_name_part(endpoint)}-{_name_part(program)}-{digest}"


def image_repository(endpoint: str, deployment: str) -> str:
    """The local repository of a deployment's images (tags are content hashes)."""
    return f"mlkube/{_name_part(endpoint)}-{_name_part(deployment)}"


def container_environment(prepared: PreparedDeployment) -> dict[str, str]:
    """The variables a deployment's containers start with: the Azure ML layout's (the
    values the image bakes in, plus the model's name and version) and then the
    deployment's own ``environment_variables``, which win, as in Azure ML. They are
    passed at start, not baked, so an image never holds a secret."""
    return {**prepared.container_layout().environment(), **prepared.environment_variables}


def _name_part(text: str) -> str:
    return _NOT_NAME_CHAR.sub("-", text.lower()).strip("-.") or "x"

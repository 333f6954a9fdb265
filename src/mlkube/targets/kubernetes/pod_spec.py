"""The pod-level pieces every mlkube container shares: hardening, probes, graceful stop.

Both the gateway and the inference server run as uid 1000 on a read-only root
filesystem (``/tmp`` is an ``emptyDir``), with no privilege escalation, no capabilities,
the runtime's default seccomp profile and no service-account token (neither talks to the
API server). Stopping drains: a ``preStop`` pause lets Service endpoints and the gateway
stop sending new requests before SIGTERM, then the server finishes what is in flight
within a grace period longer than the request timeout.
"""

from __future__ import annotations

import math
from typing import Any

from mlkube.entities.deployment_settings import ProbeSettings

#: The user the images run as (the image renderer creates it).
RUN_AS_USER = 1000
#: Seconds a stopping pod keeps serving so endpoint removal reaches every client first.
PRESTOP_SLEEP_SECONDS = 5
#: Extra seconds past the longest request before the kubelet kills a draining pod.
SHUTDOWN_MARGIN_SECONDS = 5
TMP_VOLUME = "tmp"


def pod_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def tmp_volume() -> dict[str, Any]:
    return {"name": TMP_VOLUME, "emptyDir": {}}


def tmp_mount() -> dict[str, Any]:
    return {"name": TMP_VOLUME, "mountPath": "/tmp"}


def writable_home_env() -> list[dict[str, str]]:
    """HOME and TMPDIR on the writable ``/tmp``: libraries cache there on first use."""
    return [{"name": "HOME", "value": "/tmp"}, {"name": "TMPDIR", "value": "/tmp"}]


def http_probe(path: str, settings: ProbeSettings, *, initial_delay: int | None = None,
               port: str = "http") -> dict[str, Any]:
    """A Kubernetes HTTP probe from Azure ML's probe settings."""
    return {
        "httpGet": {"path": path, "port": port, "scheme": "HTTP"},
        "initialDelaySeconds": settings.initial_delay if initial_delay is None else initial_delay,
        "periodSeconds": settings.period,
        "timeoutSeconds": settings.timeout,
        "failureThreshold": settings.failure_threshold,
        "successThreshold": settings.success_threshold,
    }


def drain_lifecycle() -> dict[str, Any]:
    """A ``preStop`` pause before SIGTERM (``exec``: the ``sleep`` action needs k8s 1.30)."""
    return {"preStop": {"exec": {"command": ["sleep", str(PRESTOP_SLEEP_SECONDS)]}}}


def termination_grace_seconds(request_timeout_ms: int) -> int:
    """Grace long enough for the pause plus the longest request the gateway waits for."""
    return PRESTOP_SLEEP_SECONDS + math.ceil(request_timeout_ms / 1000) + SHUTDOWN_MARGIN_SECONDS

"""Why a pod cannot run, in mlkube's words: what rollouts and command jobs both read.

A pod that will not start says so in scattered places: its ``PodScheduled`` condition
and ``FailedScheduling`` events (no node fits), its containers' waiting reasons
(``ImagePullBackOff``, ``CreateContainerConfigError``) with the kubelet's events, and a
container's terminated state (``OOMKilled``). The readers here turn each into a
``PodProblem``: the cause in plain words and the fix, worded for the workload the pod
belongs to (an online deployment's rollout, ``rollout``; a command job, ``job_status``).

Pure functions over plain dicts shaped exactly as the API returns them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

#: What the pod belongs to; it decides how fixes are worded.
Workload = Literal["deployment", "job"]

#: Lines of a container's log a failure quotes.
LOG_LINES = 20
#: Waiting reasons that mean the kubelet cannot get the image.
IMAGE_PULL_REASONS = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                                "ErrImageNeverPull"})
#: Waiting reasons that mean the container cannot be created as specified.
CONTAINER_CONFIG_REASONS = frozenset({"CreateContainerConfigError", "CreateContainerError",
                                      "RunContainerError"})

_INSUFFICIENT = re.compile(r"Insufficient ([A-Za-z0-9./_-]+?)[.,]?(?=\s|$)")
_MISSING_OBJECT = re.compile(r'(secret|configmap) "([^"]+)" not found', re.IGNORECASE)


@dataclass(frozen=True)
class PodProblem:
    """A pod that will not run until something changes: what Kubernetes reported (its
    ``reason``), the cause in plain words, and the fix."""

    reason: str
    pod: str
    cause: str
    fix: str


def unschedulable(pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]], *,
                  workload: Workload = "deployment") -> PodProblem | None:
    """No node can run ``pod`` (and no cluster autoscaler is adding one that could)."""
    message = None
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") != "PodScheduled":
            continue
        if condition.get("status") == "True":
            return None  # scheduled since: older FailedScheduling events are history
        if condition.get("reason") == "Unschedulable":
            message = condition.get("message") or ""
    scheduling = [e for e in events if e.get("reason") == "FailedScheduling"]
    if message is None and scheduling:
        message = event_message(scheduling[-1])
    if message is None:
        return None
    if any(e.get("reason") == "TriggeredScaleUp" for e in events):
        return None  # the cluster autoscaler is adding a node that fits: keep waiting
    name = pod_name(pod)
    resources = sorted(set(_INSUFFICIENT.findall(message)))
    if not resources:
        return PodProblem(
            "Unschedulable", name,
            cause=f"No node can run pod {name}: {message.strip()}",
            fix="Make a node fit the pod (taints and tolerations, node selectors, volumes), "
                f"or change the {workload} so that it fits an existing node.")
    requested = _requests(pod)
    asked = ", ".join(f"{r} {requested[r]}" if r in requested else r for r in resources)
    gpu = any("gpu" in r for r in resources)
    fix = (f"Lower the {workload}'s resources.requests "
           f"({', '.join(resources)}) to what a node has free, or add nodes with more")
    if gpu:
        fix = ("Add a GPU node (with the NVIDIA device plugin, so nodes advertise "
               "nvidia.com/gpu), wait for GPU pods to finish, or remove nvidia.com/gpu from "
               f"the {workload}'s resources")
    return PodProblem(
        "Unschedulable", name,
        cause=f"No node has enough {' and '.join(resources)} for pod {name} (it asks for "
              f"{asked}): {message.strip()}",
        fix=fix + "; `kubectl describe nodes` shows what each node has allocatable.")


def start_problem(pod: Mapping[str, Any], status: Mapping[str, Any],
                  events: Sequence[Mapping[str, Any]], *,
                  workload: Workload = "deployment") -> PodProblem | None:
    """A container (``status``: one of the pod's container statuses) that cannot start:
    its image cannot be pulled, or it cannot be created as specified."""
    name, container = pod_name(pod), status.get("name", "?")
    waiting = (status.get("state") or {}).get("waiting") or {}
    reason, message = waiting.get("reason"), (waiting.get("message") or "").strip()
    if reason in IMAGE_PULL_REASONS:
        image = status.get("image") or spec_container(pod, container).get("image") or "?"
        # "Back-off pulling image" says nothing; the kubelet's event has the registry's answer.
        detail = _pull_event_message(events) or message or "no detail"
        return PodProblem(
            reason, name,
            cause=f"The cluster cannot pull image {image} for container {container} of pod "
                  f"{name} ({reason}): {detail}",
            fix=_pull_fix(f"{message} {detail}"))
    if reason in CONTAINER_CONFIG_REASONS:
        missing = _MISSING_OBJECT.search(message)
        if missing:
            kind = "Secret" if missing[1].lower() == "secret" else "ConfigMap"
            made_by = ("mlkube creates its own when the endpoint is created: re-run `mlkube "
                       "online-endpoint create`" if workload == "deployment" else
                       "mlkube creates a job's own when the job is submitted: submit it "
                       "again")
            return PodProblem(
                reason, name,
                cause=f"Container {container} of pod {name} cannot start: the {kind} "
                      f"{missing[2]!r} it mounts or reads does not exist.",
                fix=f"Create the {kind} {missing[2]!r} in the pod's namespace ({made_by}), "
                    "then the pod starts by itself.")
        again = "deploy again" if workload == "deployment" else "submit the job again"
        return PodProblem(
            reason, name,
            cause=f"Container {container} of pod {name} cannot be created ({reason}): "
                  f"{message or 'no message'}",
            fix="Fix what the message names (a missing key, a bad volume, the image's user "
                f"or command), then {again}.")
    return None


def oom_problem(pod: Mapping[str, Any], status: Mapping[str, Any], *,
                workload: Workload = "deployment") -> PodProblem | None:
    """A container the kernel killed for its memory, now or in its previous run."""
    name, container = pod_name(pod), status.get("name", "?")
    ended = [(status.get("state") or {}).get("terminated") or {},
             (status.get("lastState") or {}).get("terminated") or {}]
    oom = next((t for t in ended if t.get("reason") == "OOMKilled"), None)
    if oom is None:
        return None
    limit = container_limits(pod, container).get("memory")
    limit_text = f"its memory limit ({limit})" if limit else "the memory it may use"
    fix = ("Raise the deployment's resources.limits.memory (and requests.memory) above "
           "what the model needs once loaded, or load a smaller model."
           if workload == "deployment" else
           "Raise the job's resources.limits.memory (and requests.memory), or give it a "
           "larger resources.instance_type, above what the command needs; or make the "
           "command use less memory.")
    return PodProblem(
        "OOMKilled", name,
        cause=f"Container {container} of pod {name} was killed for using more than "
              f"{limit_text} (OOMKilled, exit code {oom.get('exitCode', 137)}).",
        fix=fix)


# --- small readers --------------------------------------------------------------------------


def pod_name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", "?"))


def involved(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object an event is about (core/v1 ``involvedObject``, events.k8s.io ``regarding``)."""
    return event.get("involvedObject") or event.get("regarding") or {}


def event_message(event: Mapping[str, Any]) -> str:
    return str(event.get("message") or event.get("note") or "").strip()


def all_container_statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or [])]


def container_status(pod: Mapping[str, Any], container: str) -> Mapping[str, Any] | None:
    return next((s for s in all_container_statuses(pod) if s.get("name") == container), None)


def container_limits(pod: Mapping[str, Any], container: str) -> Mapping[str, str]:
    return (spec_container(pod, container).get("resources") or {}).get("limits") or {}


def log_tail(text: str, lines: int = LOG_LINES) -> str:
    """The last non-blank ``lines`` of a log, indented for quoting in a message."""
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(f"  {line}" for line in kept)


def spec_container(pod: Mapping[str, Any], container: str) -> Mapping[str, Any]:
    """The spec of ``container`` in ``pod`` ({} when it has none of that name)."""
    spec = pod.get("spec") or {}
    for item in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        if item.get("name") == container:
            return item
    return {}


def _requests(pod: Mapping[str, Any]) -> dict[str, str]:
    """What the pod's containers request, by resource (limits stand in for requests of
    extended resources such as GPUs, which may give only limits)."""
    found: dict[str, str] = {}
    for item in (pod.get("spec") or {}).get("containers") or []:
        resources = item.get("resources") or {}
        for source in (resources.get("limits") or {}, resources.get("requests") or {}):
            found.update({k: str(v) for k, v in source.items()})
    return found


def _pull_event_message(events: Sequence[Mapping[str, Any]]) -> str:
    failed = [event_message(e) for e in events if e.get("reason") == "Failed"
              and event_message(e).startswith("Failed to pull image")]
    return failed[-1] if failed else ""


#: What a refused pull's message says when credentials are the cause. Whole words: an
#: image digest is hex, and ``sha256:...e04034dc...`` must not read as a 403.
_AUTH_REFUSAL = re.compile(r"\b(401|403|unauthorized|denied|authorization|authentication)\b")


def _pull_fix(message: str) -> str:
    lowered = message.lower()
    if _AUTH_REFUSAL.search(lowered):
        return ("The registry refused the cluster's credentials: create an image pull "
                "Secret for the registry (`kubectl create secret docker-registry`) and add it "
                "to the namespace's default ServiceAccount (imagePullSecrets), or make the "
                "repository readable by the nodes.")
    if any(word in lowered for word in ("no such host", "timeout", "i/o timeout",
                                        "connection refused", "dial tcp", "tls", "x509")):
        return ("The nodes cannot reach the registry: check the compute's registry host "
                "name, that the nodes' network reaches it, and that they trust its TLS "
                "certificate.")
    if "not found" in lowered or "manifest unknown" in lowered:
        return ("The image is not in the registry: push it (mlkube pushes on create when the "
                "compute has a registry: `mlkube compute show`), and check the reference.")
    return ("Check the image reference and that the compute's registry is reachable from "
            "the nodes and readable with their credentials (imagePullSecrets).")

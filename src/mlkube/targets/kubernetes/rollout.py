"""Reading a rollout: is a deployment progressing, ready, or failed, and why.

Waiting for a Kubernetes rollout by its ``Deployment`` status alone ends, on failure, at
a timeout with nothing to say: the cause sits in pod statuses (``ImagePullBackOff``,
``CrashLoopBackOff``, ``OOMKilled``, ``CreateContainerConfigError``), pod conditions
(``Unschedulable``) and events (``FailedScheduling``, ``Unhealthy``). ``read_rollout``
looks at all of them on every poll and ends the wait at the first failure that will not
heal by itself, with the cause and a fix in mlkube's words.

Everything here is pure: it reads objects shaped exactly as the API returns them (the
JSON of ``kubectl get -o json``, or the client with ``_preload_content=False``) as plain
dicts. The caller fetches them, and fetches the previous log of the pods
``pods_needing_logs`` names, so a crash verdict can quote the last lines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Phase = Literal["progressing", "ready", "failed"]

#: Lines of a crashed container's log a failure verdict quotes.
LOG_LINES = 20
#: Waiting reasons that mean the kubelet cannot get the image.
IMAGE_PULL_REASONS = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                                "ErrImageNeverPull"})
#: Waiting reasons that mean the container cannot be created as specified.
CONTAINER_CONFIG_REASONS = frozenset({"CreateContainerConfigError", "CreateContainerError",
                                      "RunContainerError"})
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
TEMPLATE_HASH_LABEL = "pod-template-hash"

_INSUFFICIENT = re.compile(r"Insufficient ([A-Za-z0-9./_-]+?)[.,]?(?=\s|$)")
_MISSING_OBJECT = re.compile(r'(secret|configmap) "([^"]+)" not found', re.IGNORECASE)
_PROBE_KINDS = {"Readiness": "readinessProbe", "Liveness": "livenessProbe",
                "Startup": "startupProbe"}


@dataclass(frozen=True)
class RolloutVerdict:
    """What one poll of a rollout found.

    ``summary`` is one progress line ("1/2 instances ready"); a failed verdict adds the
    ``cause`` (what Kubernetes reported, in plain words) and the ``fix``; ``reason`` is
    the Kubernetes reason it was read from (``ImagePullBackOff``, ``OOMKilled``, ...).
    """

    phase: Phase
    summary: str
    cause: str | None = None
    fix: str | None = None
    reason: str | None = None
    pod: str | None = None

    @property
    def done(self) -> bool:
        """True when waiting longer changes nothing."""
        return self.phase != "progressing"


def read_rollout(deployment: Mapping[str, Any], pods: Sequence[Mapping[str, Any]],
                 events: Sequence[Mapping[str, Any]] = (), *,
                 replica_sets: Sequence[Mapping[str, Any]] = (),
                 logs: Mapping[str, str] | None = None,
                 container: str = "inference-server") -> RolloutVerdict:
    """The state of ``deployment``'s rollout from its pods and their events.

    ``replica_sets`` (the Deployment's) let old pods of a previous revision be ignored:
    only pods of the current revision can fail the rollout. ``logs`` maps pod names to
    the previous log of ``container`` (see ``pods_needing_logs``).
    """
    current = current_pods(deployment, pods, replica_sets=replica_sets)
    current_names = {_name(pod) for pod in current}
    own_events = [e for e in events if _involved(e).get("name") in current_names
                  or _involved(e).get("kind") == "ReplicaSet"]
    for pod in current:
        verdict = _pod_failure(pod, [e for e in own_events
                                     if _involved(e).get("name") == _name(pod)],
                               logs=logs or {}, container=container)
        if verdict is not None:
            return verdict
    failed_create = _failed_create(own_events, replica_sets=replica_sets,
                                   deployment=deployment)
    if failed_create is not None:
        return failed_create
    return _deployment_progress(deployment, current, own_events)


def current_pods(deployment: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], *,
                 replica_sets: Sequence[Mapping[str, Any]] = ()) -> list[Mapping[str, Any]]:
    """The pods of the Deployment's current revision that are not being deleted.

    Without the ReplicaSets (or when none matches the revision) every live pod counts.
    """
    live = [p for p in pods if not p.get("metadata", {}).get("deletionTimestamp")]
    revision = _annotations(deployment).get(REVISION_ANNOTATION)
    hashes = {(rs.get("metadata", {}).get("labels") or {}).get(TEMPLATE_HASH_LABEL)
              for rs in replica_sets
              if revision is not None and _annotations(rs).get(REVISION_ANNOTATION) == revision}
    hashes.discard(None)
    if not hashes:
        return live
    return [p for p in live
            if (p.get("metadata", {}).get("labels") or {}).get(TEMPLATE_HASH_LABEL) in hashes]


def pods_needing_logs(pods: Sequence[Mapping[str, Any]], *,
                      container: str = "inference-server") -> list[str]:
    """Pods whose ``container`` has restarted or stopped: their previous log holds the
    cause of a crash (fetch it with ``previous=True``)."""
    names = []
    for pod in pods:
        status = _container_status(pod, container)
        if status is None:
            continue
        state, last = status.get("state") or {}, status.get("lastState") or {}
        if status.get("restartCount", 0) > 0 or "terminated" in state or "terminated" in last:
            names.append(_name(pod))
    return names


# --- one pod --------------------------------------------------------------------------------


def _pod_failure(pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]], *,
                 logs: Mapping[str, str], container: str) -> RolloutVerdict | None:
    name = _name(pod)
    status = pod.get("status") or {}
    if status.get("phase") == "Failed":
        reason = status.get("reason") or "Failed"
        return _failed(
            reason, name,
            cause=f"Pod {name} failed ({reason}): {status.get('message') or 'no message'}.",
            fix="If it was evicted for memory or disk, give the deployment more "
                "resources.requests (or free the node); then deploy again.")
    unschedulable = _unschedulable(pod, events)
    if unschedulable is not None:
        return unschedulable
    for item in _all_container_statuses(pod):
        verdict = _container_failure(pod, item, events, logs=logs)
        if verdict is not None:
            return verdict
    if not _pod_ready(pod):
        return _probe_failure(pod, events, container=container)
    return None


def _unschedulable(pod: Mapping[str, Any],
                   events: Sequence[Mapping[str, Any]]) -> RolloutVerdict | None:
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
        message = _event_message(scheduling[-1])
    if message is None:
        return None
    if any(e.get("reason") == "TriggeredScaleUp" for e in events):
        return None  # the cluster autoscaler is adding a node that fits: keep waiting
    name = _name(pod)
    resources = sorted(set(_INSUFFICIENT.findall(message)))
    if not resources:
        return _failed(
            "Unschedulable", name,
            cause=f"No node can run pod {name}: {message.strip()}",
            fix="Make a node fit the pod (taints and tolerations, node selectors, volumes), "
                "or change the deployment so that it fits an existing node.")
    requested = _requests(pod)
    asked = ", ".join(f"{r} {requested[r]}" if r in requested else r for r in resources)
    gpu = any("gpu" in r for r in resources)
    fix = ("Lower the deployment's resources.requests "
           f"({', '.join(resources)}) to what a node has free, or add nodes with more")
    if gpu:
        fix = ("Add a GPU node (with the NVIDIA device plugin, so nodes advertise "
               "nvidia.com/gpu), wait for GPU pods to finish, or remove nvidia.com/gpu from "
               "the deployment's resources")
    return _failed(
        "Unschedulable", name,
        cause=f"No node has enough {' and '.join(resources)} for pod {name} (it asks for "
              f"{asked}): {message.strip()}",
        fix=fix + "; `kubectl describe nodes` shows what each node has allocatable.")


def _container_failure(pod: Mapping[str, Any], status: Mapping[str, Any],
                       events: Sequence[Mapping[str, Any]], *,
                       logs: Mapping[str, str]) -> RolloutVerdict | None:
    name, container = _name(pod), status.get("name", "?")
    state, last = status.get("state") or {}, status.get("lastState") or {}
    waiting = state.get("waiting") or {}
    reason, message = waiting.get("reason"), (waiting.get("message") or "").strip()
    if reason in IMAGE_PULL_REASONS:
        image = status.get("image") or _spec_image(pod, container) or "?"
        # "Back-off pulling image" says nothing; the kubelet's event has the registry's answer.
        detail = _pull_event_message(events) or message or "no detail"
        return _failed(
            reason, name,
            cause=f"The cluster cannot pull image {image} for container {container} of pod "
                  f"{name} ({reason}): {detail}",
            fix=_pull_fix(f"{message} {detail}"))
    if reason in CONTAINER_CONFIG_REASONS:
        missing = _MISSING_OBJECT.search(message)
        if missing:
            kind = "Secret" if missing[1].lower() == "secret" else "ConfigMap"
            return _failed(
                reason, name,
                cause=f"Container {container} of pod {name} cannot start: the {kind} "
                      f"{missing[2]!r} it mounts or reads does not exist.",
                fix=f"Create the {kind} {missing[2]!r} in the pod's namespace (mlkube "
                    "creates its own when the endpoint is created: re-run `mlkube "
                    "online-endpoint create`), then the pod starts by itself.")
        return _failed(
            reason, name,
            cause=f"Container {container} of pod {name} cannot be created ({reason}): "
                  f"{message or 'no message'}",
            fix="Fix what the message names (a missing key, a bad volume, the image's user "
                "or command), then deploy again.")
    terminated = state.get("terminated") or {}
    previous = last.get("terminated") or {}
    oom = next((t for t in (terminated, previous) if t.get("reason") == "OOMKilled"), None)
    if oom is not None:
        limit = _limits(pod, container).get("memory")
        limit_text = f"its memory limit ({limit})" if limit else "the memory it may use"
        return _failed(
            "OOMKilled", name,
            cause=f"Container {container} of pod {name} was killed for using more than "
                  f"{limit_text} (OOMKilled, exit code {oom.get('exitCode', 137)}).",
            fix="Raise the deployment's resources.limits.memory (and requests.memory) above "
                "what the model needs once loaded, or load a smaller model.")
    restarts = int(status.get("restartCount") or 0)
    crashed = reason == "CrashLoopBackOff" or (
        restarts > 0 and terminated and terminated.get("exitCode", 0) != 0)
    if crashed:
        ended = previous or terminated
        code = ended.get("exitCode")
        killed_by_probe = _probe_counts(events).get("Liveness", 0) or _probe_counts(
            events).get("Startup", 0)
        why = (f"was restarted {restarts} time(s) after failing its liveness/startup probe"
               if killed_by_probe and code in (137, 143) else
               f"keeps exiting (exit code {code}, {restarts} restart(s))")
        tail = _tail(logs.get(name, ""))
        log_text = (f"\nLast lines of its previous log:\n{tail}" if tail
                    else "\nIts previous log is empty.")
        return _failed(
            "CrashLoopBackOff", name,
            cause=f"Container {container} of pod {name} {why}.{log_text}",
            fix="Fix the error the log shows (often the model or scoring script failing in "
                "init, or a missing package in the environment); reproduce it locally with "
                "`mlkube online-deployment create --local`. If the model only needs longer "
                "to load, raise liveness_probe.initial_delay or failure_threshold.")
    return None


def _probe_failure(pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]], *,
                   container: str) -> RolloutVerdict | None:
    counts = _probe_counts(events)
    for kind in ("Startup", "Readiness", "Liveness"):
        budget = _probe_budget(pod, container, _PROBE_KINDS[kind])
        if budget is None or counts.get(kind, 0) < budget:
            continue
        name = _name(pod)
        last = _last_probe_message(events, kind)
        return _failed(
            f"{kind}ProbeFailed", name,
            cause=f"Pod {name} failed its {kind.lower()} probe {counts[kind]} times (its budget "
                  f"is {budget}): {last}",
            fix="See why in the log (`mlkube online-deployment get-logs`): usually the model "
                "did not finish loading or scoring raises. If it only needs longer, raise "
                f"{'readiness_probe' if kind == 'Readiness' else 'liveness_probe'}."
                "initial_delay or failure_threshold.")
    return None


def _failed_create(events: Sequence[Mapping[str, Any]], *,
                   replica_sets: Sequence[Mapping[str, Any]],
                   deployment: Mapping[str, Any]) -> RolloutVerdict | None:
    """A ReplicaSet that cannot create pods at all (quota, admission policy)."""
    own = {rs.get("metadata", {}).get("name") for rs in current_replica_sets(
        deployment, replica_sets)}
    for event in events:
        involved = _involved(event)
        if (involved.get("kind") == "ReplicaSet" and event.get("reason") == "FailedCreate"
                and involved.get("name") in own):
            message = _event_message(event)
            return _failed(
                "FailedCreate", None,
                cause=f"Kubernetes refuses to create the deployment's pods: {message}",
                fix="A ResourceQuota, LimitRange or admission policy of the namespace rejects "
                    "the pod: raise the quota, or change the deployment's resources to fit.")
    return None


def current_replica_sets(deployment: Mapping[str, Any],
                         replica_sets: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The ReplicaSets of the Deployment's current revision."""
    revision = _annotations(deployment).get(REVISION_ANNOTATION)
    return [rs for rs in replica_sets
            if revision is not None and _annotations(rs).get(REVISION_ANNOTATION) == revision]


# --- the Deployment's own status ----------------------------------------------------------


def _deployment_progress(deployment: Mapping[str, Any], pods: Sequence[Mapping[str, Any]],
                         events: Sequence[Mapping[str, Any]]) -> RolloutVerdict:
    """As ``kubectl rollout status`` decides, with the pods' waiting reasons as detail."""
    metadata, spec = deployment.get("metadata") or {}, deployment.get("spec") or {}
    status = deployment.get("status") or {}
    wanted = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    available = status.get("availableReplicas", 0)
    total = status.get("replicas", 0)
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get(
                "reason") == "ProgressDeadlineExceeded":
            return _failed(
                "ProgressDeadlineExceeded", None,
                cause=f"The rollout made no progress within its deadline: "
                      f"{condition.get('message', '')}",
                fix="See the pods' events (`kubectl describe pods -l mlkube.io/deployment="
                    "...`) and the log; fix the cause and deploy again.")
    if metadata.get("generation", 0) > status.get("observedGeneration", 0):
        return RolloutVerdict("progressing", "waiting for the cluster to see the new spec")
    detail = _waiting_detail(pods, events)
    if updated < wanted:
        return RolloutVerdict("progressing",
                              f"{updated}/{wanted} instances updated{detail}")
    if total > updated:
        return RolloutVerdict("progressing",
                              f"{total - updated} old instance(s) stopping{detail}")
    if available < updated:
        return RolloutVerdict("progressing", f"{available}/{wanted} instances ready{detail}")
    return RolloutVerdict("ready", f"{available}/{wanted} instances ready")


def _waiting_detail(pods: Sequence[Mapping[str, Any]],
                    events: Sequence[Mapping[str, Any]]) -> str:
    reasons = []
    for pod in pods:
        for item in _all_container_statuses(pod):
            waiting = (item.get("state") or {}).get("waiting") or {}
            if waiting.get("reason"):
                reasons.append(waiting["reason"])
            elif "running" in (item.get("state") or {}) and not item.get("ready"):
                reasons.append("loading the model")
        if not (pod.get("status") or {}).get("containerStatuses"):
            reasons.append("scheduling")
    if any(e.get("reason") == "Pulling" for e in events) and "ContainerCreating" in reasons:
        reasons = ["pulling the image" if r == "ContainerCreating" else r for r in reasons]
    return f" ({', '.join(sorted(set(reasons)))})" if reasons else ""


# --- small readers --------------------------------------------------------------------------


def _failed(reason: str, pod: str | None, *, cause: str, fix: str) -> RolloutVerdict:
    summary = f"failed: {reason}" + (f" (pod {pod})" if pod else "")
    return RolloutVerdict("failed", summary, cause=cause, fix=fix, reason=reason, pod=pod)


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", "?"))


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def _involved(event: Mapping[str, Any]) -> Mapping[str, Any]:
    """The object an event is about (core/v1 ``involvedObject``, events.k8s.io ``regarding``)."""
    return event.get("involvedObject") or event.get("regarding") or {}


def _event_message(event: Mapping[str, Any]) -> str:
    return str(event.get("message") or event.get("note") or "").strip()


def _event_count(event: Mapping[str, Any]) -> int:
    series = event.get("series") or {}
    return int(series.get("count") or event.get("count") or 1)


def _all_container_statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or [])]


def _container_status(pod: Mapping[str, Any], container: str) -> Mapping[str, Any] | None:
    return next((s for s in _all_container_statuses(pod) if s.get("name") == container), None)


def _spec_container(pod: Mapping[str, Any], container: str) -> Mapping[str, Any]:
    spec = pod.get("spec") or {}
    for item in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        if item.get("name") == container:
            return item
    return {}


def _spec_image(pod: Mapping[str, Any], container: str) -> str | None:
    return _spec_container(pod, container).get("image")


def _limits(pod: Mapping[str, Any], container: str) -> Mapping[str, str]:
    return (_spec_container(pod, container).get("resources") or {}).get("limits") or {}


def _requests(pod: Mapping[str, Any]) -> dict[str, str]:
    """What the pod's containers request, by resource (limits stand in for requests of
    extended resources such as GPUs, which may give only limits)."""
    found: dict[str, str] = {}
    for item in (pod.get("spec") or {}).get("containers") or []:
        resources = item.get("resources") or {}
        for source in (resources.get("limits") or {}, resources.get("requests") or {}):
            found.update({k: str(v) for k, v in source.items()})
    return found


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _probe_counts(events: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in events:
        if event.get("reason") != "Unhealthy":
            continue
        kind = _event_message(event).split(" ", 1)[0]
        if kind in _PROBE_KINDS:
            counts[kind] = counts.get(kind, 0) + _event_count(event)
    return counts


def _last_probe_message(events: Sequence[Mapping[str, Any]], kind: str) -> str:
    messages = [_event_message(e) for e in events
                if e.get("reason") == "Unhealthy" and _event_message(e).startswith(kind)]
    return messages[-1] if messages else ""


def _probe_budget(pod: Mapping[str, Any], container: str, field: str) -> int | None:
    probe = _spec_container(pod, container).get(field)
    if not probe:
        return None
    return int(probe.get("failureThreshold", 3))


def _pull_event_message(events: Sequence[Mapping[str, Any]]) -> str:
    failed = [_event_message(e) for e in events if e.get("reason") == "Failed"
              and _event_message(e).startswith("Failed to pull image")]
    return failed[-1] if failed else ""


def _pull_fix(message: str) -> str:
    lowered = message.lower()
    if any(word in lowered for word in ("401", "403", "unauthorized", "denied",
                                        "authorization", "authentication")):
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


def _tail(text: str, lines: int = LOG_LINES) -> str:
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(f"  {line}" for line in kept)

"""Reading a rollout: is a deployment progressing, ready, or failed, and why.

Waiting for a Kubernetes rollout by its ``Deployment`` status alone ends, on failure, at
a timeout with nothing to say: the cause sits in pod statuses (``ImagePullBackOff``,
``CrashLoopBackOff``, ``OOMKilled``, ``CreateContainerConfigError``), pod conditions
(``Unschedulable``) and events (``FailedScheduling``, ``Unhealthy``). ``read_rollout``
looks at all of them on every poll and ends the wait at the first failure that will not
heal by itself, with the cause and a fix in mlkube's words.

Why a single pod cannot run is ``pod_status``'s (shared with command jobs). Everything
here is pure: it reads objects shaped exactly as the API returns them (the
JSON of ``kubectl get -o json``, or the client with ``_preload_content=False``) as plain
dicts. The caller fetches them, and fetches the previous log of the pods
``pods_needing_logs`` names, so a crash verdict can quote the last lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mlkube.targets.kubernetes.pod_status import (
    PodProblem,
    all_container_statuses,
    container_status,
    event_message,
    involved,
    log_tail,
    oom_problem,
    pod_name,
    spec_container,
    start_problem,
    unschedulable,
)

Phase = Literal["progressing", "ready", "failed"]

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
TEMPLATE_HASH_LABEL = "pod-template-hash"

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
    current_names = {pod_name(pod) for pod in current}
    own_events = [e for e in events if involved(e).get("name") in current_names
                  or involved(e).get("kind") == "ReplicaSet"]
    for pod in current:
        verdict = _pod_failure(pod, [e for e in own_events
                                     if involved(e).get("name") == pod_name(pod)],
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
        status = container_status(pod, container)
        if status is None:
            continue
        state, last = status.get("state") or {}, status.get("lastState") or {}
        if status.get("restartCount", 0) > 0 or "terminated" in state or "terminated" in last:
            names.append(pod_name(pod))
    return names


# --- one pod --------------------------------------------------------------------------------


def _pod_failure(pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]], *,
                 logs: Mapping[str, str], container: str) -> RolloutVerdict | None:
    name = pod_name(pod)
    status = pod.get("status") or {}
    if status.get("phase") == "Failed":
        reason = status.get("reason") or "Failed"
        return _failed(
            reason, name,
            cause=f"Pod {name} failed ({reason}): {status.get('message') or 'no message'}.",
            fix="If it was evicted for memory or disk, give the deployment more "
                "resources.requests (or free the node); then deploy again.")
    problem = unschedulable(pod, events)
    if problem is not None:
        return _from_problem(problem)
    for item in all_container_statuses(pod):
        verdict = _container_failure(pod, item, events, logs=logs)
        if verdict is not None:
            return verdict
    if not _pod_ready(pod):
        return _probe_failure(pod, events, container=container)
    return None


def _container_failure(pod: Mapping[str, Any], status: Mapping[str, Any],
                       events: Sequence[Mapping[str, Any]], *,
                       logs: Mapping[str, str]) -> RolloutVerdict | None:
    problem = start_problem(pod, status, events) or oom_problem(pod, status)
    if problem is not None:
        return _from_problem(problem)
    name, container = pod_name(pod), status.get("name", "?")
    state, last = status.get("state") or {}, status.get("lastState") or {}
    reason = (state.get("waiting") or {}).get("reason")
    terminated = state.get("terminated") or {}
    previous = last.get("terminated") or {}
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
        tail = log_tail(logs.get(name, ""))
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
        name = pod_name(pod)
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
        about = involved(event)
        if (about.get("kind") == "ReplicaSet" and event.get("reason") == "FailedCreate"
                and about.get("name") in own):
            message = event_message(event)
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
        for item in all_container_statuses(pod):
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


def _from_problem(problem: PodProblem) -> RolloutVerdict:
    return _failed(problem.reason, problem.pod, cause=problem.cause, fix=problem.fix)


def _failed(reason: str, pod: str | None, *, cause: str, fix: str) -> RolloutVerdict:
    summary = f"failed: {reason}" + (f" (pod {pod})" if pod else "")
    return RolloutVerdict("failed", summary, cause=cause, fix=fix, reason=reason, pod=pod)


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def _event_count(event: Mapping[str, Any]) -> int:
    series = event.get("series") or {}
    return int(series.get("count") or event.get("count") or 1)


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _probe_counts(events: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in events:
        if event.get("reason") != "Unhealthy":
            continue
        kind = event_message(event).split(" ", 1)[0]
        if kind in _PROBE_KINDS:
            counts[kind] = counts.get(kind, 0) + _event_count(event)
    return counts


def _last_probe_message(events: Sequence[Mapping[str, Any]], kind: str) -> str:
    messages = [event_message(e) for e in events
                if e.get("reason") == "Unhealthy" and event_message(e).startswith(kind)]
    return messages[-1] if messages else ""


def _probe_budget(pod: Mapping[str, Any], container: str, field: str) -> int | None:
    probe = spec_container(pod, container).get(field)
    if not probe:
        return None
    return int(probe.get("failureThreshold", 3))



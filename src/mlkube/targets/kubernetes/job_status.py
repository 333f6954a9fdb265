"""Reading a command job on Kubernetes: its status (Azure ML's names) and, when it failed,
why, from its Job, its pod and their events.

Kubernetes says a Job ended through its conditions (``Complete``, ``Failed`` with a
reason such as ``DeadlineExceeded``); the exit code and an ``OOMKilled`` are in the pod's
container state, and the command's last words in its log. A pod that can never start
(an image the node cannot pull, no node that fits, a container that cannot be created, a
pod the Job controller may not create) leaves the Job running forever: those are read as
Failed with ``stop`` set, so the caller deletes the Job and nothing runs later under a
job recorded as failed. The vocabulary of causes and fixes is the rollout reader's
(``pod_status``), worded for a job.

Pure: objects shaped as the API returns them in, a ``JobVerdict`` out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlkube.entities.job import JobStatus
from mlkube.targets.kubernetes.job_manifests import CONTAINER
from mlkube.targets.kubernetes.pod_status import (
    LOG_LINES,
    container_status,
    event_message,
    involved,
    log_tail,
    oom_problem,
    pod_name,
    start_problem,
    unschedulable,
)

_STARTING_REASONS = {"ContainerCreating": "creating the container",
                     "PodInitializing": "initializing the pod"}


@dataclass(frozen=True)
class JobVerdict:
    """What one read of a job found.

    ``summary`` is one progress line; a Failed verdict has the ``cause`` (for a command
    that exited non-zero: the last lines of its log, as for local jobs) and, when mlkube
    knows one, a ``fix``. ``stop`` is set when Kubernetes has not ended the Job but it
    cannot succeed.
    """

    status: str
    summary: str
    exit_code: int | None = None
    cause: str | None = None
    fix: str | None = None
    reason: str | None = None
    pod: str | None = None
    stop: bool = False

    @property
    def error(self) -> str | None:
        """What is recorded as the job's error: the cause, and the fix when there is one."""
        if self.cause is None:
            return None
        return f"{self.cause}\nFix: {self.fix}" if self.fix else self.cause


def job_pod(pods: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The job's pod: the newest (a Job with ``backoffLimit`` 0 makes one)."""
    if not pods:
        return None
    return max(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "")


def read_job(job: Mapping[str, Any], pods: Sequence[Mapping[str, Any]],
             events: Sequence[Mapping[str, Any]] = (), *, log: str = "") -> JobVerdict:
    """The status of ``job`` from its pods, the events about it and them, and the log of
    its pod's container."""
    pod = job_pod(pods)
    name = pod_name(pod) if pod is not None else None
    pod_events = [e for e in events if name is not None and involved(e).get("name") == name]
    job_events = [e for e in events if involved(e).get("kind") == "Job"]
    conditions = {c.get("type"): c for c in (job.get("status") or {}).get("conditions") or []
                  if c.get("status") == "True"}
    ended = _ended(job, conditions, pod, log=log)
    if ended is not None:
        return ended
    if pod is None:
        refused = [e for e in job_events if e.get("reason") == "FailedCreate"]
        if refused:
            return _refused(event_message(refused[-1]))
        return JobVerdict(JobStatus.QUEUED, "waiting for the Job's pod")
    problem = unschedulable(pod, pod_events, workload="job")
    for item in (pod.get("status") or {}).get("containerStatuses") or []:
        problem = problem or start_problem(pod, item, pod_events, workload="job")
    if problem is not None:
        return JobVerdict(JobStatus.FAILED, f"failed: {problem.reason} (pod {name})",
                          cause=problem.cause, fix=problem.fix, reason=problem.reason,
                          pod=name, stop=True)
    return _progress(pod, pod_events)


def _ended(job: Mapping[str, Any], conditions: Mapping[str, Mapping[str, Any]],
           pod: Mapping[str, Any] | None, *, log: str) -> JobVerdict | None:
    """The verdict of a job that ended: as the Job says, else as its pod says (the Job's
    status follows the pod's by a moment)."""
    phase = ((pod or {}).get("status") or {}).get("phase")
    name = pod_name(pod) if pod is not None else None
    status = container_status(pod, CONTAINER) if pod is not None else None
    terminated = ((status or {}).get("state") or {}).get("terminated") or {}
    exit_code = terminated.get("exitCode")
    # The container's end shows a moment before the pod's phase and the Job's condition.
    if ({"Complete", "SuccessCriteriaMet"} & set(conditions) or phase == "Succeeded"
            or exit_code == 0):
        return JobVerdict(JobStatus.COMPLETED, "completed", exit_code=0, pod=name)
    failed = conditions.get("Failed") or conditions.get("FailureTarget")
    if failed is None and phase != "Failed" and exit_code is None:
        return None
    tail = log_tail(log)
    quoted = f"\nLast lines of its log:\n{tail}" if tail else ""
    reason = (failed or {}).get("reason") or ((pod or {}).get("status") or {}).get("reason")
    if reason == "DeadlineExceeded":
        limit = (job.get("spec") or {}).get("activeDeadlineSeconds")
        return JobVerdict(
            JobStatus.FAILED, "failed: ran past its limits.timeout", exit_code=exit_code,
            cause=f"The job ran longer than its limits.timeout ({limit} s) and was "
                  f"stopped.{quoted}",
            fix="Raise the job's limits.timeout, or make the command finish sooner.",
            reason=reason, pod=name)
    oom = oom_problem(pod, status, workload="job") if pod is not None and status else None
    if oom is not None:
        return JobVerdict(JobStatus.FAILED, f"failed: OOMKilled (pod {name})",
                          exit_code=exit_code, cause=oom.cause + quoted, fix=oom.fix,
                          reason="OOMKilled", pod=name)
    if exit_code is not None:
        lines = log.rstrip().splitlines()[-LOG_LINES:]
        return JobVerdict(JobStatus.FAILED, f"failed: exit code {exit_code}",
                          exit_code=int(exit_code),
                          cause="\n".join(lines) or f"The command exited with code "
                                                    f"{exit_code} and printed nothing.",
                          reason="Error", pod=name)
    message = ((pod or {}).get("status") or {}).get("message") or (failed or {}).get(
        "message") or "no message"
    return JobVerdict(
        JobStatus.FAILED, f"failed: {reason or 'Failed'}",
        cause=f"Kubernetes ended the job ({reason or 'Failed'}): {message}{quoted}",
        fix="If its pod was evicted for memory or disk, give the job more resources "
            "(requests.memory, or a larger instance_type); then submit it again.",
        reason=reason or "Failed", pod=name)


def _refused(message: str) -> JobVerdict:
    if "serviceaccount" in message.lower():
        fix = ("Run `mlkube cluster install --compute NAME` for the compute's namespace (it "
               "creates the mlkube-workload account jobs run as), then submit the job again.")
    else:
        fix = ("A ResourceQuota, LimitRange or admission policy of the namespace rejects the "
               "pod: raise the quota, or change the job's resources to fit.")
    return JobVerdict(JobStatus.FAILED, "failed: FailedCreate",
                      cause=f"Kubernetes refuses to create the job's pod: {message}", fix=fix,
                      reason="FailedCreate", stop=True)


def _progress(pod: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> JobVerdict:
    """Queued (not on a node yet), Starting (image, container) or Running."""
    name = pod_name(pod)
    status = pod.get("status") or {}
    scheduled = any(c.get("type") == "PodScheduled" and c.get("status") == "True"
                    for c in status.get("conditions") or [])
    if not scheduled:
        return JobVerdict(JobStatus.QUEUED, f"waiting for a node (pod {name})", pod=name)
    container = container_status(pod, CONTAINER) or {}
    state = container.get("state") or {}
    if "running" in state:
        return JobVerdict(JobStatus.RUNNING, f"running (pod {name})", pod=name)
    waiting = (state.get("waiting") or {}).get("reason") or ""
    doing = _STARTING_REASONS.get(waiting, waiting or "starting")
    if any(e.get("reason") == "Pulling" for e in events) and not any(
            e.get("reason") in ("Pulled", "Created", "Started") for e in events):
        doing = "pulling the image"
    return JobVerdict(JobStatus.STARTING, f"{doing} (pod {name})", pod=name)

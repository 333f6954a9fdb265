"""A command job's status from its Job, pod and events as the API returns them: Azure ML's
statuses, and for each way a job fails on Kubernetes the cause and the fix a user reads.
Pods that cannot start are the real test cluster's (``fixtures/recorded``, the rollout
reader's), read as a job's."""

from __future__ import annotations

import copy
from typing import Any

from mlkube.entities.job import JobStatus
from mlkube.targets.kubernetes.job_status import read_job
from tests.kubernetes_io.rollout_fixtures import load

POD = "calm-otter-1a2b3c4d-5e6f7a8b-x1y2z"


def job(*conditions: dict[str, Any], deadline: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"backoffLimit": 0}
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "calm-otter-1a2b3c4d-5e6f7a8b"}, "spec": spec,
            "status": {"conditions": [{"status": "True", **c} for c in conditions]}}


def pod(phase: str = "Running", *, state: dict[str, Any] | None = None,
        scheduled: bool = True, limits: dict[str, str] | None = None,
        reason: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [{"type": "PodScheduled", "status": "True" if scheduled else "False"}],
        "containerStatuses": [] if state is None else [
            {"name": "job", "image": "127.0.0.1:5100/mlkube-jobs@sha256:" + "b" * 64,
             "state": state, "lastState": {}, "ready": "running" in state,
             "restartCount": 0}]}
    if reason:
        status["reason"] = reason
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": POD, "creationTimestamp": "2026-12-01T12:00:00Z"},
            "spec": {"containers": [{"name": "job",
                                     "resources": {"limits": limits or {"memory": "2Gi"}}}]},
            "status": status}


def terminated(code: int, reason: str = "Error") -> dict[str, Any]:
    return {"terminated": {"exitCode": code, "reason": reason}}


def as_job_pod(recorded: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A recorded deployment pod and its events, as if a job's."""
    data = copy.deepcopy(load(recorded))
    return data["pods"]["items"][0], data["events"]["items"]


def test_a_pod_waiting_for_a_node_is_queued_then_starting_then_running():
    assert read_job(job(), [pod("Pending", scheduled=False)]).status == JobStatus.QUEUED
    assert read_job(job(), []).status == JobStatus.QUEUED
    creating = read_job(job(), [pod("Pending", state={
        "waiting": {"reason": "ContainerCreating"}})])
    assert creating.status == JobStatus.STARTING
    assert "creating the container" in creating.summary
    running = read_job(job(), [pod(state={"running": {}})])
    assert running.status == JobStatus.RUNNING and running.pod == POD


def test_a_complete_job_is_completed_with_exit_code_0():
    verdict = read_job(job({"type": "Complete"}), [pod("Succeeded", state=terminated(0))])
    assert (verdict.status, verdict.exit_code, verdict.error) == (JobStatus.COMPLETED, 0, None)


def test_a_container_that_ended_before_the_pod_says_so_is_already_completed():
    verdict = read_job(job(), [pod("Running", state=terminated(0, "Completed"))])
    assert verdict.status == JobStatus.COMPLETED


def test_a_failing_command_is_failed_with_its_exit_code_and_last_log_lines():
    log = "".join(f"epoch {i}\n" for i in range(40)) + "ValueError: cannot converge\n"
    verdict = read_job(job({"type": "Failed", "reason": "BackoffLimitExceeded"}),
                       [pod("Failed", state=terminated(3))], log=log)
    assert verdict.status == JobStatus.FAILED and verdict.exit_code == 3
    assert verdict.error is not None
    assert verdict.error.endswith("ValueError: cannot converge")
    assert "epoch 39" in verdict.error and "epoch 5\n" not in verdict.error
    assert not verdict.stop  # Kubernetes ended it already


def test_a_job_past_its_timeout_says_to_raise_limits_timeout():
    verdict = read_job(job({"type": "Failed", "reason": "DeadlineExceeded"}, deadline=60),
                       [pod("Failed", state=terminated(143), reason="DeadlineExceeded")],
                       log="step 1\nstep 2\n")
    assert verdict.status == JobStatus.FAILED
    assert verdict.cause is not None and "limits.timeout (60 s)" in verdict.cause
    assert "step 2" in verdict.cause
    assert verdict.fix is not None and "limits.timeout" in verdict.fix


def test_an_oom_killed_command_names_its_memory_limit_and_the_jobs_resources():
    verdict = read_job(job({"type": "Failed"}),
                       [pod("Failed", state=terminated(137, "OOMKilled"),
                            limits={"memory": "512Mi"})])
    assert verdict.reason == "OOMKilled" and verdict.exit_code == 137
    assert verdict.cause is not None and "512Mi" in verdict.cause
    assert verdict.fix is not None and "job's resources.limits.memory" in verdict.fix


def test_an_image_the_node_cannot_pull_fails_the_job_and_stops_it():
    recorded, events = as_job_pod("err-image-pull-not-found")
    verdict = read_job(job(), [recorded], events)
    assert verdict.status == JobStatus.FAILED and verdict.stop
    assert verdict.cause is not None and "127.0.0.1:5100/broken-missing@sha256:" in verdict.cause
    assert verdict.fix is not None and "push" in verdict.fix


def test_a_pod_no_node_fits_fails_the_job_naming_the_jobs_requests():
    recorded, events = as_job_pod("unschedulable-insufficient-cpu")
    verdict = read_job(job(), [recorded], events)
    assert verdict.status == JobStatus.FAILED and verdict.stop
    assert verdict.cause is not None and "cpu" in verdict.cause
    assert verdict.fix is not None and "job's resources.requests" in verdict.fix


def test_a_pod_the_namespace_refuses_names_the_quota_or_the_missing_install():
    quota = {"reason": "FailedCreate", "involvedObject": {"kind": "Job", "name": "j"},
             "message": 'pods "j-abc" is forbidden: exceeded quota: small, requested: '
                        'cpu=4, used: cpu=0, limited: cpu=1'}
    verdict = read_job(job(), [], [quota])
    assert verdict.status == JobStatus.FAILED and verdict.stop
    assert verdict.cause is not None and "exceeded quota" in verdict.cause
    assert verdict.fix is not None and "ResourceQuota" in verdict.fix
    account = {**quota, "message": 'error looking up service account ns/mlkube-workload: '
                                   'serviceaccount "mlkube-workload" not found'}
    verdict = read_job(job(), [], [account])
    assert verdict.fix is not None and "mlkube cluster install" in verdict.fix


def test_a_missing_secret_says_to_submit_the_job_again():
    waiting = {"waiting": {"reason": "CreateContainerConfigError",
                           "message": 'secret "calm-otter-tracking" not found'}}
    verdict = read_job(job(), [pod("Pending", state=waiting)])
    assert verdict.status == JobStatus.FAILED and verdict.stop
    assert verdict.fix is not None and "submit it again" in verdict.fix

"""The rollout reader on Pod, Event, ReplicaSet and Deployment objects as the API returns
them (``rollout_fixtures``: recorded on the real test cluster where it can produce the
situation): each failure kind ends the wait with its own cause and fix, and healthy or
slow rollouts keep waiting."""

from __future__ import annotations

import json

import pytest

from mlkube.targets.kubernetes.rollout import RolloutVerdict, pods_needing_logs, read_rollout
from tests.kubernetes_io.rollout_fixtures import RECORDED, all_fixtures, load


def verdict(name: str) -> RolloutVerdict:
    recorded = load(name)
    return read_rollout(recorded["deployment"], recorded["pods"]["items"],
                        recorded["events"]["items"],
                        replica_sets=recorded["replicaSets"]["items"],
                        logs=recorded.get("previousLogs"))


def test_ready_deployment_ends_the_wait_as_ready():
    result = verdict("ready")
    assert result.phase == "ready" and result.done
    assert result.summary == "1/1 instances ready"


def test_pulling_image_keeps_waiting_and_says_so():
    result = verdict("pulling-image")
    assert result.phase == "progressing" and not result.done
    assert "pulling the image" in result.summary


def test_image_pull_backoff_names_the_image_and_the_registry_credentials_fix():
    result = verdict("image-pull-backoff-unauthorized")
    assert result.phase == "failed" and result.reason == "ImagePullBackOff"
    assert "registry.example.com/team/iris-blue@sha256:" in result.cause
    assert "401 Unauthorized" in result.cause
    assert "imagePullSecrets" in result.fix


def test_an_image_missing_from_the_registry_says_to_push_it():
    result = verdict("err-image-pull-not-found")
    assert result.reason in ("ErrImagePull", "ImagePullBackOff")
    assert "127.0.0.1:5100/broken-missing@sha256:" in result.cause
    assert "not found" in result.cause
    assert "push" in result.fix


def test_a_missing_image_whose_digest_holds_403_still_says_to_push_it():
    """A digest is hex: "e04034dc" in it is no HTTP status (CI met one)."""
    recorded = json.loads(json.dumps(load("err-image-pull-not-found")).replace(
        "sha256:", "sha256:e04034dc401"))
    result = read_rollout(recorded["deployment"], recorded["pods"]["items"],
                          recorded["events"]["items"],
                          replica_sets=recorded["replicaSets"]["items"],
                          logs=recorded.get("previousLogs"))
    assert "sha256:e04034dc401" in result.cause
    assert "push" in result.fix and "credentials" not in result.fix


def test_crash_loop_quotes_the_last_log_lines_and_the_exit_code():
    result = verdict("crash-loop-backoff")
    assert result.reason == "CrashLoopBackOff"
    assert "exit code 3" in result.cause
    assert "opening the feature store at /mnt/features/iris.parquet" in result.cause
    assert "--local" in result.fix


def test_oom_killed_names_the_memory_limit_and_says_to_raise_it():
    result = verdict("oom-killed")
    assert result.reason == "OOMKilled"
    assert "48Mi" in result.cause
    assert "resources.limits.memory" in result.fix


@pytest.mark.parametrize(("fixture", "resource", "asked"), [
    ("unschedulable-insufficient-cpu", "cpu", "cpu 64"),
    ("unschedulable-insufficient-memory", "memory", "memory 512Gi"),
    ("unschedulable-insufficient-gpu", "nvidia.com/gpu", "nvidia.com/gpu 1"),
])
def test_unschedulable_pod_names_the_missing_resource_and_the_request(fixture, resource, asked):
    result = verdict(fixture)
    assert result.reason == "Unschedulable"
    assert f"No node has enough {resource} " in result.cause
    assert asked in result.cause


def test_gpu_shortage_suggests_a_gpu_node_not_a_smaller_request():
    assert "NVIDIA device plugin" in verdict("unschedulable-insufficient-gpu").fix
    assert "Lower the deployment's resources.requests" in verdict(
        "unschedulable-insufficient-cpu").fix


def test_unschedulable_while_the_autoscaler_adds_a_node_keeps_waiting():
    assert verdict("unschedulable-scale-up-triggered").phase == "progressing"


def test_readiness_probe_failing_past_its_budget_fails_with_the_probe_answer():
    result = verdict("readiness-probe-failing")
    assert result.reason == "ReadinessProbeFailed"
    assert "readiness probe" in result.cause and "statuscode: 503" in result.cause
    assert "readiness_probe" in result.fix


def test_readiness_failures_within_the_budget_keep_waiting():
    result = verdict("readiness-probe-within-budget")
    assert result.phase == "progressing"
    assert "loading the model" in result.summary


def test_container_killed_by_its_startup_probe_says_so_with_the_log():
    result = verdict("startup-probe-kills-container")
    assert result.reason == "CrashLoopBackOff"
    assert "failing its liveness/startup probe" in result.cause
    assert "loading MLflow model" in result.cause


def test_missing_secret_names_the_secret():
    result = verdict("create-container-config-error")
    assert result.reason == "CreateContainerConfigError"
    assert "Secret 'iris-keys'" in result.cause


def test_crashing_pod_of_the_previous_revision_does_not_fail_the_new_one():
    assert verdict("old-revision-crashing-new-ready").phase == "ready"


def test_quota_refusing_the_pod_fails_with_the_quota_message():
    result = verdict("failed-create-quota")
    assert result.reason == "FailedCreate"
    assert "exceeded quota: team-quota" in result.cause


def test_partial_readiness_reports_how_many_instances_are_ready():
    result = verdict("one-of-two-ready")
    assert result.phase == "progressing"
    assert result.summary.startswith("1/2 instances ready")


def test_pods_needing_logs_are_the_restarted_ones():
    crashed = load("crash-loop-backoff")["pods"]["items"]
    healthy = load("ready")["pods"]["items"]
    assert pods_needing_logs(crashed) == [crashed[0]["metadata"]["name"]]
    assert pods_needing_logs(healthy) == []


def test_every_fixture_is_an_api_shaped_list_of_its_kind():
    for path in all_fixtures():
        recorded = json.loads(path.read_text())
        assert recorded["deployment"]["metadata"]["name"], path.name
        for key, kind in (("pods", "PodList"), ("events", "EventList"),
                          ("replicaSets", "ReplicaSetList")):
            assert recorded[key]["kind"] == kind, path.name
            # List items come without kind / apiVersion, as the API sends them.
            assert all("metadata" in item for item in recorded[key]["items"]), path.name


def test_the_real_failures_are_recorded_not_hand_made():
    recorded = {path.stem for path in RECORDED.glob("*.json")}
    assert {"ready", "err-image-pull-not-found", "crash-loop-backoff", "oom-killed",
            "unschedulable-insufficient-gpu", "readiness-probe-failing"} <= recorded

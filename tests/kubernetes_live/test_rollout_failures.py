"""A broken deployment on the real cluster ends the wait with its cause and a fix soon
after the cause shows, never at the timeout: an image missing from the registry, a
container that exits at start, a memory limit the model cannot load in, a GPU request on
a node with none, a readiness probe that never passes.

Each case also records the Deployment, ReplicaSets, Pods, Events and previous logs the
cluster returned, as the rollout reader's unit tests read them
(``tests/kubernetes_io/fixtures/recorded/``): with ``MLKUBE_RECORD_FIXTURES=1`` the
files are rewritten; always, the reader must give the same verdict on what was just read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlkube.entities.code_configuration import CodeConfiguration
from mlkube.entities.deployment_settings import (
    ProbeSettings,
    ResourceRequirementsSettings,
    ResourceSettings,
)
from mlkube.entities.model import Model
from mlkube.entities.online_deployment import KubernetesOnlineDeployment
from mlkube.entities.online_endpoint import KubernetesOnlineEndpoint
from mlkube.errors import DeploymentFailedError
from mlkube.operations.client import MLClient
from mlkube.targets.kubernetes.rollout import read_rollout
from tests.kubernetes_live.conftest import COMPUTE, LiveWorkspace
from tests.kubernetes_live.recording import record_rollout

pytestmark = pytest.mark.timeout(600)

ENDPOINT = "broken"
#: How soon after its cause shows a failure must end the wait (the issue's bar).
VERDICT_WITHIN_S = 60.0


@pytest.fixture(scope="module")
def client(live_workspace: LiveWorkspace) -> Iterator[MLClient]:
    ml_client = live_workspace.client()
    ml_client.online_endpoints.begin_create_or_update(KubernetesOnlineEndpoint(
        name=ENDPOINT, compute=COMPUTE, auth_mode="key",
        properties={"mlkube.io/gateway-replicas": "1"})).result()
    yield ml_client


class Timeline:
    """Progress lines with the time each arrived; ``hook`` runs on each line first."""

    def __init__(self, hook: Callable[[str], None] | None = None) -> None:
        self.lines: list[tuple[float, str]] = []
        self._hook = hook

    def __call__(self, line: str) -> None:
        if self._hook is not None:
            self._hook(line)
        self.lines.append((time.monotonic(), line))

    def when(self, prefix: str) -> float:
        return next(t for t, line in self.lines if line.startswith(prefix))


def _fail(client: MLClient, deployment: KubernetesOnlineDeployment, *,
          hook: Callable[[str], None] | None = None) -> tuple[DeploymentFailedError, float]:
    """Deploy ``deployment``, expect it to fail; the error and the seconds from the
    moment its pods were asked for (the Deployment applied) to the verdict."""
    timeline = Timeline(hook)
    with pytest.raises(DeploymentFailedError) as caught:
        client.online_deployments.begin_create_or_update(deployment, progress=timeline).result()
    ended = time.monotonic()
    applied = timeline.when("applying Deployment ")
    return caught.value, ended - applied


def _recorded(workspace: LiveWorkspace, deployment: str, case: str, *,
              description: str) -> dict[str, Any]:
    return record_rollout(workspace.cluster, workspace.namespace, ENDPOINT, deployment, case,
                          description=description)


def _reader_agrees(recorded: dict[str, Any], reason: str) -> None:
    verdict = read_rollout(recorded["deployment"], recorded["pods"]["items"],
                           recorded["events"]["items"],
                           replica_sets=recorded["replicaSets"]["items"],
                           logs=recorded["previousLogs"])
    assert verdict.phase == "failed" and verdict.reason == reason, verdict


def _cleanup(client: MLClient, name: str) -> None:
    client.online_deployments.begin_delete(name, ENDPOINT).result()


def _script(folder: Path, body: str) -> CodeConfiguration:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "score.py").write_text(body)
    return CodeConfiguration(code=str(folder), scoring_script="score.py")


def _model(iris_root: Path) -> Model:
    return Model(path=str(iris_root / "model"))


def test_an_image_missing_from_the_registry_fails_with_the_pull_error_and_a_push_fix(
    client: MLClient, live_workspace: LiveWorkspace, iris_lgbm_model_root: Path,
) -> None:
    registry = live_workspace.cluster.registry

    def delete_once_pushed(line: str) -> None:
        # The image vanishes between mlkube's push and the node's pull, as when a
        # registry's retention policy or a colleague removes it.
        if line.startswith("pushed ") and "/broken-missing" in line:
            reference = line.split()[1]
            repository, digest = reference.split("/", 1)[1].split("@")
            deleted = httpx.delete(f"http://{registry}/v2/{repository}/manifests/{digest}")
            assert deleted.status_code == 202, deleted.text

    error, seconds = _fail(client, KubernetesOnlineDeployment(
        name="missing", endpoint_name=ENDPOINT, model=_model(iris_lgbm_model_root)),
        hook=delete_once_pushed)
    assert seconds <= VERDICT_WITHIN_S, seconds
    assert "cannot pull image" in error.message and f"{registry}/" in error.message
    assert "not found" in error.message
    assert "push" in (error.hint or "")
    _reader_agrees(_recorded(live_workspace, "missing",
                           "err-image-pull-not-found",
                           description="The image was deleted from the registry after the "
                                       "push: the node's pull answers not found."),
                   _pull_reason(error))
    _cleanup(client, "missing")


def _pull_reason(error: DeploymentFailedError) -> str:
    return "ImagePullBackOff" if "(ImagePullBackOff)" in error.message else "ErrImagePull"


def test_a_container_that_exits_at_start_fails_with_its_last_log_lines(
    client: MLClient, live_workspace: LiveWorkspace, iris_lgbm_model_root: Path,
    tmp_path: Path,
) -> None:
    code = _script(tmp_path / "exits", (
        "import os\n\n\n"
        "def init():\n"
        "    print('opening the feature store at /mnt/features/iris.parquet', flush=True)\n"
        "    # A native library that aborts the process, as a bad CUDA or MKL build does.\n"
        "    os._exit(3)\n\n\n"
        "def run(raw):\n"
        "    return raw\n"))
    error, seconds = _fail(client, KubernetesOnlineDeployment(
        name="exits", endpoint_name=ENDPOINT, model=_model(iris_lgbm_model_root),
        code_configuration=code))
    # The first exit comes after the server starts (~5 s); the verdict needs one restart
    # (10 s back-off), so a crash is not mistaken for a one-off.
    assert seconds <= VERDICT_WITHIN_S + 20, seconds
    assert "exit code 3" in error.message
    assert "opening the feature store at /mnt/features/iris.parquet" in error.message
    assert "--local" in (error.hint or "")
    _reader_agrees(_recorded(live_workspace, "exits",
                           "crash-loop-backoff",
                           description="score.py's init() ends the process with exit "
                                       "code 3 after printing a line."), "CrashLoopBackOff")
    # Later, from the cluster alone (as the studio's endpoint page reads it): the cause.
    shown = client.online_deployments.get("exits", ENDPOINT)
    assert shown.provisioning_state == "Failed"
    assert "exit code 3" in (shown.provisioning_error or "")
    assert "--local" in (shown.provisioning_error or "")
    _cleanup(client, "exits")


def test_a_memory_limit_the_model_cannot_load_in_fails_as_oom_killed(
    client: MLClient, live_workspace: LiveWorkspace, iris_lgbm_model_root: Path,
) -> None:
    error, seconds = _fail(client, KubernetesOnlineDeployment(
        name="small", endpoint_name=ENDPOINT, model=_model(iris_lgbm_model_root),
        resources=ResourceRequirementsSettings(
            requests=ResourceSettings(memory="48Mi"), limits=ResourceSettings(memory="48Mi"))))
    assert seconds <= VERDICT_WITHIN_S + 20, seconds
    assert "OOMKilled" in error.message and "48Mi" in error.message
    assert "resources.limits.memory" in (error.hint or "")
    _reader_agrees(_recorded(live_workspace, "small",
                           "oom-killed",
                           description="A 48Mi memory limit: the server is killed while "
                                       "it imports and loads the model."), "OOMKilled")
    _cleanup(client, "small")


def test_a_gpu_request_on_a_node_without_gpus_fails_as_unschedulable(
    client: MLClient, live_workspace: LiveWorkspace, iris_lgbm_model_root: Path,
) -> None:
    error, seconds = _fail(client, KubernetesOnlineDeployment(
        name="gpu", endpoint_name=ENDPOINT, model=_model(iris_lgbm_model_root),
        resources=ResourceRequirementsSettings(
            requests=ResourceSettings(gpu="1"), limits=ResourceSettings(gpu="1"))))
    assert seconds <= VERDICT_WITHIN_S, seconds
    assert "No node has enough nvidia.com/gpu" in error.message
    assert "Insufficient nvidia.com/gpu" in error.message
    assert "GPU node" in (error.hint or "")
    _reader_agrees(_recorded(live_workspace, "gpu",
                           "unschedulable-insufficient-gpu",
                           description="One nvidia.com/gpu asked of a node with none."),
                   "Unschedulable")
    _cleanup(client, "gpu")


def test_a_readiness_probe_that_never_passes_fails_once_its_budget_is_spent(
    client: MLClient, live_workspace: LiveWorkspace, iris_lgbm_model_root: Path,
    tmp_path: Path,
) -> None:
    code = _script(tmp_path / "hangs", (
        "import time\n\n\n"
        "def init():\n"
        "    print('downloading weights from the artifact store', flush=True)\n"
        "    time.sleep(3600)  # a download that never finishes\n\n\n"
        "def run(raw):\n"
        "    return raw\n"))
    probe = ProbeSettings(initial_delay=2, period=2, timeout=1, failure_threshold=4)
    error, seconds = _fail(client, KubernetesOnlineDeployment(
        name="hangs", endpoint_name=ENDPOINT, model=_model(iris_lgbm_model_root),
        code_configuration=code, readiness_probe=probe))
    assert seconds <= probe.budget_seconds + VERDICT_WITHIN_S, seconds
    assert "readiness probe" in error.message and "503" in error.message
    assert "readiness_probe" in (error.hint or "")
    _reader_agrees(_recorded(live_workspace, "hangs",
                           "readiness-probe-failing",
                           description="init() never returns: readiness answers 503 past "
                                       "its budget of 4 failures."), "ReadinessProbeFailed")
    _cleanup(client, "hangs")


@pytest.mark.parametrize(("resource", "request_", "case"), [
    ("cpu", {"cpu": "64"}, "unschedulable-insufficient-cpu"),
    ("memory", {"memory": "512Gi"}, "unschedulable-insufficient-memory"),
])
def test_a_request_larger_than_the_node_fails_naming_the_resource(
    client: MLClient, live_workspace: LiveWorkspace, iris_lgbm_model_root: Path,
    resource: str, request_: dict[str, str], case: str,
) -> None:
    error, seconds = _fail(client, KubernetesOnlineDeployment(
        name=f"big-{resource}", endpoint_name=ENDPOINT, model=_model(iris_lgbm_model_root),
        resources=ResourceRequirementsSettings(requests=ResourceSettings(**request_),
                                               limits=ResourceSettings(**request_))))
    assert seconds <= VERDICT_WITHIN_S, seconds
    assert f"No node has enough {resource}" in error.message
    assert f"{resource} {request_[resource]}" in error.message
    assert "Lower the deployment's resources.requests" in (error.hint or "")
    _reader_agrees(_recorded(live_workspace, f"big-{resource}", case,
                             description=f"{resource} {request_[resource]} asked of a "
                                         "2-core, 24 GiB node."), "Unschedulable")
    _cleanup(client, f"big-{resource}")


def test_a_healthy_deployment_is_recorded_as_ready(
    client: MLClient, live_workspace: LiveWorkspace, iris_lgbm_model_root: Path,
) -> None:
    created = client.online_deployments.begin_create_or_update(KubernetesOnlineDeployment(
        name="healthy", endpoint_name=ENDPOINT, model=_model(iris_lgbm_model_root))).result()
    assert created.provisioning_state == "Succeeded"
    recorded = _recorded(live_workspace, "healthy", "ready",
                         description="One instance of the iris model, ready.")
    verdict = read_rollout(recorded["deployment"], recorded["pods"]["items"],
                           recorded["events"]["items"],
                           replica_sets=recorded["replicaSets"]["items"])
    assert verdict.phase == "ready"
    _cleanup(client, "healthy")


def test_a_namespace_quota_refusing_the_pods_fails_with_the_quota_message(
    client: MLClient, live_workspace: LiveWorkspace, iris_lgbm_model_root: Path,
) -> None:
    from kubernetes import client as k8s

    # The gateway's one pod uses the namespace's whole quota of one pod.
    with live_workspace.cluster.api() as api:
        core = k8s.CoreV1Api(api)
        core.create_namespaced_resource_quota(live_workspace.namespace, k8s.V1ResourceQuota(
            metadata=k8s.V1ObjectMeta(name="team-quota"),
            spec=k8s.V1ResourceQuotaSpec(hard={"pods": "1"})))
        try:
            error, seconds = _fail(client, KubernetesOnlineDeployment(
                name="quota", endpoint_name=ENDPOINT, model=_model(iris_lgbm_model_root)))
            assert seconds <= VERDICT_WITHIN_S, seconds
            assert "exceeded quota: team-quota" in error.message
            assert "ResourceQuota" in (error.hint or "")
            _reader_agrees(_recorded(live_workspace, "quota", "failed-create-quota",
                                     description="A ResourceQuota of one pod, used by the "
                                                 "gateway: the ReplicaSet cannot create "
                                                 "pods."), "FailedCreate")
        finally:
            core.delete_namespaced_resource_quota("team-quota", live_workspace.namespace)
    _cleanup(client, "quota")

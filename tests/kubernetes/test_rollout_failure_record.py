"""A failed rollout's cause kept on its Deployment: shown by ``get`` while its pod
template is the one not running, forgotten once the template changes or its pods run."""

from __future__ import annotations

from typing import Any

from mlkube.targets.kubernetes.state import (
    provisioning_state,
    rollout_failure,
    rollout_failure_annotations,
)


def _workload(*, generation: int, available: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "iris-blue", "namespace": "ml", "generation": generation},
            "spec": {"replicas": 1, "template": {"spec": {"containers": [
                {"name": "inference-server", "image": "r/iris-blue:1"}]}}},
            "status": {"observedGeneration": generation, "updatedReplicas": 1,
                       "availableReplicas": available}}


def _recorded(workload: dict[str, Any], *, image: str | None = None) -> dict[str, Any]:
    annotations = rollout_failure_annotations(
        workload, cause="Pod iris-blue-1 exited with code 3.",
        fix="Run it with --local to see the traceback.")
    # Annotating a Deployment moves its generation (and its controller observes that).
    generation = workload["metadata"]["generation"] + 1
    recorded = {**workload,
                "metadata": {**workload["metadata"], "annotations": annotations,
                             "generation": generation},
                "status": {**workload["status"], "observedGeneration": generation}}
    if image:
        recorded["spec"] = {**workload["spec"], "template": {"spec": {"containers": [
            {"name": "inference-server", "image": image}]}}}
    return recorded


def _shown(workload: dict[str, Any]) -> str | None:
    running = provisioning_state(workload) == "Succeeded"
    return None if running else rollout_failure(workload)


def test_the_cause_and_fix_are_shown_while_the_failed_spec_is_not_running():
    failed = _recorded(_workload(generation=4, available=0))
    assert _shown(failed) == ("Pod iris-blue-1 exited with code 3. Hint: Run it with "
                                       "--local to see the traceback.")


def test_a_new_spec_or_running_pods_make_the_record_stale():
    assert _shown(_recorded(_workload(generation=4, available=0),
                                     image="r/iris-blue:2")) is None
    assert _shown(_recorded(_workload(generation=4, available=1))) is None
    assert _shown(_workload(generation=4, available=0)) is None

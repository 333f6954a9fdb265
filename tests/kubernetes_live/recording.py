"""Recording what a real cluster says about a rollout, in the format the rollout reader's
unit tests read (``tests/kubernetes_io/fixtures/recorded/<case>.json``): the Deployment,
its ReplicaSets and Pods as the API sends them, their Events, and the previous log of
each restarted container. With ``MLKUBE_RECORD_FIXTURES=1`` the files are rewritten;
without, the recording is only returned (the live tests check the reader on it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.kubernetes_live.conftest import LiveCluster

RECORDED = Path(__file__).parents[1] / "kubernetes_io" / "fixtures" / "recorded"


def _json(response: Any) -> Any:
    """The API's answer as sent (``_preload_content=False``), not the client's models."""
    return json.loads(response.data)


def record_rollout(cluster: LiveCluster, namespace: str, endpoint: str, deployment: str,
                   case: str, *, description: str) -> dict[str, Any]:
    """What the cluster says about ``deployment`` now, in the fixtures' format (and
    written to ``recorded/<case>.json`` when asked)."""
    from kubernetes import client as k8s

    selector = f"mlkube.io/endpoint={endpoint},mlkube.io/deployment={deployment}"
    raw = {"label_selector": selector, "_preload_content": False}
    with cluster.api() as api:
        core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
        (workload,) = _json(apps.list_namespaced_deployment(namespace, **raw))["items"]
        pods = _json(core.list_namespaced_pod(namespace, **raw))
        replica_sets = _json(apps.list_namespaced_replica_set(namespace, **raw))
        names = [p["metadata"]["name"] for p in pods["items"]] + [
            r["metadata"]["name"] for r in replica_sets["items"]]
        events = [event for name in names for event in _json(core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.name={name}",
            _preload_content=False))["items"]]
        logs = {}
        for pod in pods["items"]:
            statuses = pod["status"].get("containerStatuses") or []
            if any(s.get("restartCount", 0) > 0 for s in statuses):
                logs[pod["metadata"]["name"]] = core.read_namespaced_pod_log(
                    pod["metadata"]["name"], namespace, container="inference-server",
                    previous=True, tail_lines=40, _preload_content=False).data.decode()
    recorded = {"description": description, "deployment": workload,
                "replicaSets": replica_sets, "pods": pods,
                "events": {"kind": "EventList", "items": events}, "previousLogs": logs}
    if os.environ.get("MLKUBE_RECORD_FIXTURES") == "1":
        RECORDED.mkdir(parents=True, exist_ok=True)
        (RECORDED / f"{case}.json").write_text(json.dumps(recorded, indent=1, sort_keys=True)
                                               + "\n")
    return recorded

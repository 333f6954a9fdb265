"""What the pages show of each entity: plain dicts built from what the operations return.

Pure functions over entities (and the MLmodel text), shared by the HTML pages and the
JSON routes the pages poll, so a page's first render and its refreshes show the same.
Keys and tokens never pass through here.
"""

from __future__ import annotations

import json
import shlex
from datetime import datetime
from typing import Any

import yaml

from mlkube.entities.online_deployment import OnlineDeployment
from mlkube.entities.online_endpoint import OnlineEndpoint

#: Shown in the curl line in place of the key, which is never rendered into a page.
KEY_PLACEHOLDER = "$ENDPOINT_KEY"


def metrics_url(scoring_uri: str) -> str:
    """The gateway's Prometheus endpoint, beside its ``/score``."""
    return scoring_uri.removesuffix("/score") + "/metrics"


def endpoint_view(endpoint: OnlineEndpoint) -> dict[str, Any]:
    return {
        "name": endpoint.name,
        "state": endpoint.provisioning_state or "Unknown",
        "target": endpoint.target,
        "compute": endpoint.compute or "local",
        "auth_mode": endpoint.auth_mode,
        "traffic": dict(endpoint.traffic),
        "mirror_traffic": dict(endpoint.mirror_traffic),
        "scoring_uri": endpoint.scoring_uri or "",
        "openapi_uri": endpoint.openapi_uri or "",
        "description": endpoint.description or "",
    }


def deployment_view(deployment: OnlineDeployment) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    if deployment.instance_resources is not None:
        resources = deployment.instance_resources.model_dump(exclude_none=True)
    k8s_resources = getattr(deployment, "resources", None)
    if k8s_resources is not None:
        resources = {**resources, **k8s_resources.model_dump(exclude_none=True)}
    return {
        "name": deployment.name,
        "state": deployment.provisioning_state or "Unknown",
        "error": deployment.provisioning_error or "",
        "instance_count": deployment.instance_count,
        "instance_type": deployment.instance_type or "",
        "model": model_text(deployment.model),
        "served_model": deployment.served_model or model_text(deployment.model),
        "scoring_script": (deployment.code_configuration.scoring_script
                           if deployment.code_configuration else ""),
        "resources": resources,
        "request_timeout_ms": deployment.request_settings.request_timeout_ms,
        "max_concurrent_requests_per_instance":
            deployment.request_settings.max_concurrent_requests_per_instance,
    }


def model_text(model: Any) -> str:
    if model is None:
        return ""
    if isinstance(model, str):
        return model
    if model.name and model.version:
        return f"{model.name}:{model.version}"
    return str(model.path or model.name or "")


def curl_line(scoring_uri: str, *, deployment: str | None = None) -> str:
    """A ready-to-paste request, with the key left to the shell (``$ENDPOINT_KEY``)."""
    parts = ["curl", "-sS", shlex.quote(scoring_uri), "-H",
             f'"Authorization: Bearer {KEY_PLACEHOLDER}"',
             "-H", shlex.quote("Content-Type: application/json")]
    if deployment:
        parts += ["-H", shlex.quote(f"azureml-model-deployment: {deployment}")]
    parts += ["-d", "@sample-request.json"]
    return " ".join(parts)


def mlmodel_view(mlmodel_text: str | None) -> dict[str, Any]:
    """Flavors, signature (inputs and outputs as rows) and the input example's file name
    from an ``MLmodel`` file's text."""
    if not mlmodel_text:
        return {"flavors": [], "inputs": [], "outputs": [], "params": [],
                "input_example_file": None}
    data = yaml.safe_load(mlmodel_text) or {}
    signature = data.get("signature") or {}
    example = data.get("saved_input_example_info") or {}
    return {
        "flavors": sorted((data.get("flavors") or {}).keys()),
        "inputs": _signature_rows(signature.get("inputs")),
        "outputs": _signature_rows(signature.get("outputs")),
        "params": _signature_rows(signature.get("params")),
        "input_example_file": example.get("artifact_path"),
        "mlflow_version": data.get("mlflow_version", ""),
    }


def _signature_rows(value: str | None) -> list[dict[str, Any]]:
    if not value:
        return []
    try:
        entries = json.loads(value)
    except (TypeError, ValueError):
        return []
    rows = []
    for entry in entries:
        shape = entry.get("tensor-spec", {}).get("shape") or entry.get("shape")
        rows.append({
            "name": entry.get("name", ""),
            "type": entry.get("type") if entry.get("type") != "tensor"
            else f"tensor {entry.get('tensor-spec', {}).get('dtype', '')}",
            "shape": "" if shape is None else str(shape),
            "required": entry.get("required", True),
            "default": entry.get("default", ""),
        })
    return rows


def request_from_example(example_text: str | None) -> str:
    """A scoring request body from MLflow's saved input example: Azure ML's
    ``{"input_data": ...}`` around the example (pandas split, or a tensor)."""
    if not example_text:
        return ""
    try:
        example = json.loads(example_text)
    except ValueError:
        return ""
    if isinstance(example, dict) and "dataframe_split" in example:
        example = example["dataframe_split"]
    elif isinstance(example, dict) and "inputs" in example and len(example) == 1:
        example = example["inputs"]
    return json.dumps({"input_data": example}, indent=2)


def duration_text(start: str | None, end: str | None) -> str:
    """``1m 05s`` between two ISO times (to now when ``end`` is None); "" without start."""
    if not start:
        return ""
    try:
        began = datetime.fromisoformat(start)
        ended = datetime.fromisoformat(end) if end else datetime.now(began.tzinfo)
    except ValueError:
        return ""
    seconds = max(int((ended - began).total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"

"""Checks of an online endpoint YAML: its fields are an endpoint's, and its traffic and
mirror rules hold (traffic adds up to 100, or routes only by header).

A YAML file is an endpoint spec when it has none of a deployment's fields (model,
code_configuration, endpoint_name, ...) and at least one of an endpoint's, or a
``$schema`` that names an endpoint schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlkube.doctor.findings import Finding, error, info, warning
from mlkube.entities.base import load_yaml_mapping
from mlkube.errors import MlkubeError

#: Keys only a deployment spec has.
DEPLOYMENT_KEYS = frozenset({
    "endpoint_name", "model", "code_configuration", "environment", "instance_count",
    "instance_type", "scale_settings", "request_settings", "resources", "liveness_probe",
    "readiness_probe", "environment_variables",
})
#: Keys only an endpoint spec has.
ENDPOINT_KEYS = frozenset({"auth_mode", "traffic", "mirror_traffic", "compute", "identity",
                           "public_network_access"})


def is_endpoint_spec(path: Path) -> bool:
    """True when the YAML at ``path`` describes an online endpoint, not a deployment."""
    try:
        data = load_yaml_mapping(path)
    except MlkubeError:
        return False
    if DEPLOYMENT_KEYS & set(data):
        return False
    schema = str(data.get("$schema") or "").lower()
    return bool(ENDPOINT_KEYS & set(data)) or "onlineendpoint" in schema


def check_endpoint(path: Path) -> list[Finding]:
    """The endpoint's rules, as creating it would check them, and its traffic."""
    from mlkube.entities.online_endpoint import OnlineEndpoint

    data: dict[str, Any] = load_yaml_mapping(path)
    try:
        endpoint = OnlineEndpoint.from_dict(dict(data), source=str(path),
                                            base_path=str(path.parent))
    except MlkubeError as problem:
        return [error("endpoint-invalid", problem.message, problem.hint or "Fix the spec.")]
    findings = [info("endpoint-valid",
                     f"{path} is a valid {type(endpoint).__name__} named {endpoint.name} "
                     f"(auth_mode {endpoint.auth_mode}).")]
    total = sum(endpoint.traffic.values())
    if total == 0:
        findings.append(warning(
            "endpoint-no-traffic",
            f"{path}: traffic is empty or all 0 %, so requests reach a deployment only with "
            f"the azureml-model-deployment header.",
            "Give the deployments shares that add up to 100 (traffic: {blue: 100}), or use "
            "`mlkube online-deployment create --all-traffic`.",
        ))
    else:
        split = ", ".join(f"{name} {percent} %" for name, percent in endpoint.traffic.items())
        findings.append(info("endpoint-traffic", f"{path}: traffic adds up to 100 ({split})."))
    return findings

"""Checks of an online deployment YAML: every local path it names exists and is written
for Linux, the model is what its ``type`` says, and the model, script and environment it
points at pass their own checks.

The YAML is read as a plain mapping so that every problem is reported at once (a pydantic
validation stops at the spec's rules); the spec's rules are then checked by loading it
as an ``OnlineDeployment``, and reported as one more finding.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlkube.doctor.findings import Finding, error, info
from mlkube.entities.base import is_uri, load_yaml_mapping
from mlkube.errors import MlkubeError

#: Checks the deployment hands its model folder (and whether to check the model's own
#: environment), script and environment file to.
ModelCheck = Callable[[Path, bool], list[Finding]]
ScriptCheck = Callable[[Path, Path | None], list[Finding]]
EnvironmentCheck = Callable[[Path], list[Finding]]
#: Looks a registered model up (``"azureml:iris:3"``); raises mlkube's error if missing.
ModelLookup = Callable[[str], object]


def check_deployment(
    yaml_path: Path,
    *,
    check_model: ModelCheck,
    check_script: ScriptCheck,
    check_environment: EnvironmentCheck,
    find_model: ModelLookup | None = None,
) -> list[Finding]:
    """All findings for a deployment YAML. ``check_script(script, model_path)`` gets the
    local model path (its folder name is what the script must load); ``find_model``
    checks a registered model exists in the workspace."""
    try:
        data = load_yaml_mapping(yaml_path)
    except MlkubeError as problem:
        return [error("deployment-yaml-invalid", problem.message,
                      problem.hint or "Fix the YAML file.")]
    base = yaml_path.parent
    findings = _check_spec_rules(data, yaml_path)
    model_path, model_findings = _model(data.get("model"), base=base, source=yaml_path,
                                        find_model=find_model)
    findings += model_findings
    findings += _scale_settings(data.get("scale_settings"), source=yaml_path)
    code = data.get("code_configuration") or {}
    if not isinstance(code, dict):
        code = {}
    code_dir = _local_path(code.get("code"), base=base)
    script_name = code.get("scoring_script")
    has_environment = data.get("environment") is not None
    if code_dir is not None or script_name:
        findings += _paths_exist(
            yaml_path, {"code_configuration.code": code_dir}
        )
        if isinstance(script_name, str) and code_dir is not None and code_dir.is_dir():
            findings += _windows_separators(yaml_path, {"code_configuration.scoring_script":
                                                        script_name})
            script = code_dir / script_name
            if script.is_file():
                findings += check_script(script, model_path)
            else:
                findings.append(_missing(yaml_path, "code_configuration.scoring_script", script))
    elif model_path is not None and _model_type(data.get("model")) == "custom_model":
        findings.append(error(
            "scoring-script-required",
            f"{yaml_path}: the model is a custom_model and the deployment has no "
            f"code_configuration, so nothing can score it.",
            "Add code_configuration: {code: ./src, scoring_script: score.py}, or register the "
            "model as an mlflow_model for no-code scoring.",
        ))
    findings += _environment(data.get("environment"), base=base, source=yaml_path,
                             check_environment=check_environment)
    if model_path is not None and (model_path / "MLmodel").is_file():
        # The deployment's own environment, when given, replaces the model's.
        findings += check_model(model_path, not has_environment)
    return findings


def _check_spec_rules(data: dict[str, Any], yaml_path: Path) -> list[Finding]:
    from mlkube.entities.online_deployment import OnlineDeployment

    try:
        OnlineDeployment.from_dict(dict(data), source=str(yaml_path),
                                   base_path=str(yaml_path.parent))
    except MlkubeError as problem:
        return [error("deployment-invalid", problem.message, problem.hint or "Fix the spec.")]
    return []


def _scale_settings(value: Any, *, source: Path) -> list[Finding]:
    kind = str(value.get("type") or "").replace("-", "_").lower() if isinstance(
        value, dict) else ""
    if kind not in ("target_utilization", "targetutilization"):
        return []
    findings = [info(
        "autoscale",
        f"{source}: scale_settings is target_utilization: local and docker endpoints add "
        f"and drain instances on the gateway's requests in flight per instance; Kubernetes "
        f"applies it as a HorizontalPodAutoscaler on CPU (the gateway publishes the "
        f"in-flight signal as mlkube_gateway_in_flight for a metrics adapter).",
        "Set scale_up_delay_s / scale_down_delay_s to tune how fast it follows the load.",
    )]
    if isinstance(value, dict) and value.get("min_instances") == 0:
        findings.append(info(
            "scale-to-zero",
            f"{source}: min_instances is 0: the deployment stops after "
            f"scale_to_zero_after_s without a request, and the first request after that "
            f"waits while an instance starts (up to request_settings.request_timeout_ms).",
            "Raise request_timeout_ms above the deployment's start time, or keep "
            "min_instances at 1 where a cold start is not acceptable."))
    return findings


def _registered(raw: str, *, field: str, source: Path,
                find_model: ModelLookup | None) -> list[Finding]:
    if find_model is None or not _is_reference(raw):
        return [info("registered-model",
                     f"{source}: {field} {raw} names a registered model or remote "
                     f"location; its files are checked when it is fetched.")]
    try:
        found = find_model(raw)
    except MlkubeError as problem:
        return [error("registered-model-missing",
                      f"{source}: {field} is {raw}, which is not in the workspace: "
                      f"{problem.message}", problem.hint or "Register the model first.")]
    version = getattr(found, "version", None)
    return [info("registered-model",
                 f"{source}: {field} {raw} is registered (version {version}).")]


def _model(value: Any, *, base: Path, source: Path, find_model: ModelLookup | None = None
           ) -> tuple[Path | None, list[Finding]]:
    """The local model path (None for a registered model) and findings about it."""
    if value is None:
        return None, []
    raw = value.get("path") if isinstance(value, dict) else value
    if not isinstance(raw, str):
        return None, []
    field = "model.path" if isinstance(value, dict) else "model"
    if is_uri(raw) or _is_reference(raw):
        return None, _registered(raw, field=field, source=source, find_model=find_model)
    findings = _windows_separators(source, {field: raw})
    path = _local_path(raw, base=base)
    if path is None or not path.exists():
        return None, findings + [_missing(source, field, path or Path(raw))]
    if _model_type(value) == "mlflow_model" and not (path / "MLmodel").is_file():
        inner = [p for p in sorted(path.iterdir()) if (p / "MLmodel").is_file()] if (
            path.is_dir()) else []
        fix = (f"Point {field} at {inner[0]} (the folder that holds MLmodel)" if inner
               else "Point it at the folder MLflow saved (with MLmodel), or set type: "
               "custom_model and add a scoring script")
        findings.append(error(
            "mlflow-model-without-mlmodel",
            f"{source}: the model is type mlflow_model, but {path} has no MLmodel file.",
            fix + ".",
        ))
    return path, findings


def _environment(
    value: Any, *, base: Path, source: Path, check_environment: EnvironmentCheck
) -> list[Finding]:
    if not isinstance(value, dict):
        return []
    findings: list[Finding] = []
    for field in ("conda_file", "pip_requirements"):
        raw = value.get(field)
        if not isinstance(raw, str) or is_uri(raw):
            continue
        findings += _windows_separators(source, {f"environment.{field}": raw})
        path = _local_path(raw, base=base)
        if path is None or not path.is_file():
            findings.append(_missing(source, f"environment.{field}", path or Path(raw)))
        else:
            findings += check_environment(path)
    if isinstance(value.get("conda_file"), dict):
        findings.append(info("inline-conda-file", f"{source}: environment.conda_file is "
                             f"inline; it is resolved when the deployment is created."))
    return findings


def _model_type(value: Any) -> str | None:
    return value.get("type") if isinstance(value, dict) else None


def _is_reference(value: str) -> bool:
    from mlkube.entities.online_deployment import parse_asset_reference

    return parse_asset_reference(value) is not None


def _local_path(raw: Any, *, base: Path) -> Path | None:
    if not isinstance(raw, str) or not raw.strip() or is_uri(raw):
        return None
    path = Path(raw).expanduser()
    return path if path.is_absolute() else base / path


def _paths_exist(source: Path, paths: dict[str, Path | None]) -> list[Finding]:
    return [_missing(source, field, path) for field, path in paths.items()
            if path is not None and not path.exists()]


def _missing(source: Path, field: str, path: Path) -> Finding:
    return error(
        "deployment-path-missing",
        f"{source}: {field} is {path}, which does not exist.",
        "Fix the path; relative paths are relative to the YAML file's folder.",
    )


def _windows_separators(source: Path, values: dict[str, str]) -> list[Finding]:
    found = [f"{field}: {value}" for field, value in values.items() if "\\" in value]
    if not found:
        return []
    return [error(
        "windows-path",
        f"{source} uses Windows path separators ({'; '.join(found)}); on Linux '\\' is part "
        f"of the file name.",
        "Write paths with '/' (they work on Windows too).",
    )]


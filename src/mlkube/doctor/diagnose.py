"""``mlkube doctor PATH``: decide what PATH is and run the checks that fit it.

PATH may be an MLflow model folder (``MLmodel`` in it, or in its one subfolder, Azure
ML's ``$AZUREML_MODEL_DIR/model`` layout), a folder with a ``score.py`` (and usually a
conda file), a ``score.py`` itself, an online deployment YAML or an online endpoint YAML.
This module reads the files and hands their content to the pure checks; the entry
script is imported in a child process (``script_probe``).
"""

from __future__ import annotations

import os
from pathlib import Path

from mlkube.doctor.deployment_checks import ModelLookup, check_deployment
from mlkube.doctor.endpoint_checks import check_endpoint, is_endpoint_spec
from mlkube.doctor.environment_checks import check_environment_file, check_model_environment
from mlkube.doctor.findings import Finding, error
from mlkube.doctor.model_checks import check_mlmodel
from mlkube.doctor.script_checks import (
    check_defines_entry_points,
    check_model_dir_uses,
    check_path_literals,
    parse_script,
)
from mlkube.doctor.script_probe import DEFAULT_TIMEOUT_S, check_probe, probe_script

SCRIPT_NAME = "score.py"
#: Environment files looked for beside a scoring script, in this order.
SCRIPT_ENV_FILES = ("conda.yaml", "conda.yml", "environment.yml", "environment.yaml",
                    "requirements.txt")


def diagnose(path: str | os.PathLike[str], *, timeout: float = DEFAULT_TIMEOUT_S,
             find_model: ModelLookup | None = None) -> list[Finding]:
    """Every finding for ``path`` (see the module docstring for what it may be).

    ``find_model(reference)`` looks a registered model up in the workspace (raising
    mlkube's not-found error); without it, registered references are not checked."""
    target = Path(path).expanduser()
    if not target.exists():
        return [error("path-missing", f"{target} does not exist.",
                      "Give a model folder, a folder with score.py, or a deployment YAML.")]
    if target.is_file():
        if target.suffix in (".yml", ".yaml"):
            if is_endpoint_spec(target):
                return check_endpoint(target)
            return check_deployment(
                target, check_model=check_model_folder, find_model=find_model,
                check_script=lambda script, model: check_script(script, model_path=model,
                                                                timeout=timeout),
                check_environment=check_environment_file,
            )
        if target.name == "MLmodel":
            return check_model_folder(target.parent)
        if target.suffix == ".py":
            return check_script(target, model_path=_model_folder_in(target.parent),
                                timeout=timeout)
        return [error("unknown-path", f"{target} is not a model folder, script or YAML file.",
                      "Give a model folder, a folder with score.py, or a deployment YAML.")]
    return _check_folder(target, timeout=timeout)


def check_model_folder(folder: Path, with_environment: bool = True) -> list[Finding]:
    """MLmodel checks, then the environment the model records."""
    mlmodel = folder / "MLmodel"
    text = mlmodel.read_text(errors="replace") if mlmodel.is_file() else None
    findings = check_mlmodel(folder, text)
    if with_environment and text is not None:
        findings += check_model_environment(folder)
    return findings


def check_script(script: Path, *, model_path: Path | None, timeout: float = DEFAULT_TIMEOUT_S
                 ) -> list[Finding]:
    """Static pitfalls, then an import in a child process. ``model_path`` is the model
    folder the script will find inside ``AZUREML_MODEL_DIR`` (its parent)."""
    label = str(script)
    tree, findings = parse_script(script.read_text(errors="replace"), script=label)
    if tree is None:
        return findings
    findings += check_model_dir_uses(tree, script=label,
                                     model_folder_name=model_path.name if model_path else None)
    findings += check_path_literals(tree, script=label)
    result = probe_script(script, model_dir=model_path.parent if model_path else None,
                          timeout=timeout)
    findings += check_probe(result, script=label, timeout=timeout)
    if not result.imported and not result.timed_out:
        findings += check_defines_entry_points(tree, script=label)
    return findings


def _check_folder(folder: Path, *, timeout: float) -> list[Finding]:
    model = _model_folder_in(folder)
    script = folder / SCRIPT_NAME
    findings: list[Finding] = []
    if model is not None:
        findings += check_model_folder(model)
    if script.is_file():
        findings += check_script(script, model_path=model, timeout=timeout)
        if model != folder:
            env_file = next((folder / n for n in SCRIPT_ENV_FILES if (folder / n).is_file()), None)
            if env_file is not None:
                findings += check_environment_file(env_file)
    if model is None and not script.is_file():
        findings.append(error(
            "mlmodel-missing",
            f"{folder} has no MLmodel file (nor one subfolder with it) and no {SCRIPT_NAME}: "
            f"it is neither an MLflow model nor a scoring-script folder.",
            "Give the folder MLflow saved (it holds MLmodel), a folder with score.py, or a "
            "deployment YAML; a folder of plain files needs a scoring script (custom_model).",
        ))
    return findings


def _model_folder_in(folder: Path) -> Path | None:
    if (folder / "MLmodel").is_file():
        return folder
    inner = [p for p in sorted(folder.iterdir()) if (p / "MLmodel").is_file()]
    return inner[0] if len(inner) == 1 else None

"""Checks of an MLflow model folder's ``MLmodel`` file.

mlkube serves an MLflow model without a scoring script only through its
``python_function`` flavor, and validates requests (and shows a swagger example) only
from its signature. These checks work on the file's text, so they are pure; reading the
file is the caller's job.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from mlkube.doctor.findings import Finding, error, info, warning


def check_mlmodel(folder: Path, mlmodel_text: str | None) -> list[Finding]:
    """MLmodel present and parseable, a python_function flavor, a signature, and paths
    inside it written with ``/``."""
    where = folder / "MLmodel"
    if mlmodel_text is None:
        return [error(
            "mlmodel-missing",
            f"No MLmodel file in {folder}: it is not an MLflow model folder.",
            "Point at the folder MLflow saved (the one holding MLmodel), save the model with "
            "mlflow.<flavor>.save_model, or deploy it as a custom_model with a scoring script.",
        )]
    try:
        mlmodel = yaml.safe_load(mlmodel_text)
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        return [error(
            "mlmodel-unparseable",
            f"{where} is not valid YAML{line}: {getattr(problem, 'problem', None) or problem}.",
            "Save the model again with MLflow rather than editing MLmodel by hand.",
        )]
    if not isinstance(mlmodel, dict) or not isinstance(mlmodel.get("flavors"), dict):
        return [error(
            "mlmodel-unparseable",
            f"{where} has no 'flavors' mapping, so it does not describe an MLflow model.",
            "Save the model again with MLflow rather than editing MLmodel by hand.",
        )]
    return [
        *_check_flavors(where, mlmodel["flavors"]),
        *_check_signature(where, mlmodel.get("signature")),
        *_check_separators(where, mlmodel["flavors"]),
    ]


def _check_flavors(where: Path, flavors: dict[str, Any]) -> list[Finding]:
    pyfunc = flavors.get("python_function")
    names = ", ".join(flavors) or "none"
    if not isinstance(pyfunc, dict):
        return [error(
            "no-pyfunc-flavor",
            f"{where} has flavors {names} but no python_function flavor; mlkube's no-code "
            f"scoring loads models through it.",
            "Save the model with a flavor that adds python_function (mlflow.sklearn, "
            "mlflow.lightgbm, mlflow.pyfunc ... do), or deploy it with a scoring script "
            "(code_configuration with score.py).",
        )]
    loader = pyfunc.get("loader_module") or "a python_model"
    return [info("pyfunc-flavor", f"{where}: flavors {names}; loaded by {loader}.")]


def _check_signature(where: Path, signature: Any) -> list[Finding]:
    if not isinstance(signature, dict) or not signature.get("inputs"):
        return [warning(
            "no-signature",
            f"{where} has no signature: requests are not validated (a wrong column or type "
            f"fails inside the model, not with a 400) and the swagger has no example.",
            "Save the model with signature=infer_signature(X, model.predict(X)) or an "
            "input_example.",
        )]
    return [info("signature", f"{where}: input signature {_describe_inputs(signature)}.")]


def _describe_inputs(signature: dict[str, Any]) -> str:
    try:
        inputs = json.loads(signature["inputs"])
    except (TypeError, ValueError):
        return "present"
    parts = []
    for spec in inputs[:8]:
        if spec.get("type") == "tensor":
            tensor = spec.get("tensor-spec", {})
            parts.append(f"tensor {tensor.get('dtype')} {tuple(tensor.get('shape', ()))}")
        else:
            parts.append(f"{spec.get('name', '?')}: {spec.get('type')}")
    more = f", ... ({len(inputs)} in all)" if len(inputs) > 8 else ""
    return ", ".join(parts) + more


def _check_separators(where: Path, flavors: dict[str, Any]) -> list[Finding]:
    """A model saved on Windows by hand-made tooling may name its files with ``\\``, which
    is a plain character on Linux: the file is then not found when the model loads."""
    found = []
    for flavor, config in flavors.items():
        if not isinstance(config, dict):
            continue
        for key in ("data", "code", "model_path", "pickled_model"):
            value = config.get(key)
            if isinstance(value, str) and "\\" in value:
                found.append(f"{flavor}.{key}: {value}")
    if not found:
        return []
    return [error(
        "windows-path",
        f"{where} names files with Windows separators ({'; '.join(found)}); on Linux '\\' is "
        f"part of the file name, so the model's files are not found.",
        "Save the model again with MLflow (it writes '/' separators), or replace '\\' by '/' "
        "in those MLmodel entries.",
    )]

"""Checks of an environment: its files resolve, its Python is on this machine, and what
happens to the inference server the seed had to add by hand.

Resolution is the one the deployment itself uses (``environments.resolution``), with a
stand-in for mlkube's server line, so the doctor never builds a wheel or installs
anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mlkube.doctor.findings import Finding, error, info, warning
from mlkube.entities.environment import Environment
from mlkube.environments.conda import conda_only_packages
from mlkube.environments.file_agreement import environment_file_disagreement
from mlkube.environments.interpreters import current_minor_version, find_interpreter
from mlkube.environments.requirements import REPLACED_BY_MLKUBE
from mlkube.environments.resolution import (
    MODEL_ENV_FILES,
    model_environment_file,
    resolve_model_folder,
    resolve_spec,
)
from mlkube.environments.resolved import ResolvedEnvironment
from mlkube.errors import MlkubeError

# The doctor only needs to know the server is added, not where its wheel is.
_SERVER_STAND_IN = "mlkube[server]"
_AZURE_SERVERS = tuple(name for name in REPLACED_BY_MLKUBE if name != "mlkube")


def check_model_environment(model_folder: Path) -> list[Finding]:
    """The environment an MLflow model records (python_env.yaml, conda.yaml,
    requirements.txt)."""
    env_file = model_environment_file(model_folder)
    if env_file is None:
        return [warning(
            "environment-files-missing",
            f"{model_folder} has none of {', '.join(MODEL_ENV_FILES)}, so the model does not "
            f"say which packages it needs.",
            "Give the deployment an environment (image + conda_file or pip requirements), or "
            "save the model with MLflow, which writes these files.",
        )]
    findings = _conda_only(env_file) if env_file.name == "conda.yaml" else []
    if findings:
        return findings
    try:
        resolved = resolve_model_folder(model_folder, server_requirement=_SERVER_STAND_IN)
    except MlkubeError as problem:
        return [_unresolvable(env_file, problem)]
    return [*_disagreement(model_folder), *_resolved_findings(env_file, resolved),
            *check_python(resolved.python_version)]


def _disagreement(model_folder: Path) -> list[Finding]:
    found = environment_file_disagreement(model_folder)
    if found is None:
        return []
    return [warning(
        "environment-files-disagree",
        f"{model_folder}: {found.summary}.",
        f"Make the same change in {found.used.name} (and its requirements.txt), or delete "
        f"{found.used.name} so that {found.ignored.name} is used; or give the deployment "
        f"environment: {{conda_file: {found.ignored}}}.",
    )]


def check_environment_file(path: Path) -> list[Finding]:
    """A conda file, or a requirements.txt, given beside a script or in a deployment."""
    findings = _conda_only(path) if path.suffix in (".yml", ".yaml") else []
    if findings:
        return findings
    spec = (Environment(conda_file=str(path)) if path.suffix in (".yml", ".yaml")
            else Environment(pip_requirements=str(path)))
    try:
        resolved = resolve_spec(spec, server_requirement=_SERVER_STAND_IN, base_path=path.parent)
    except MlkubeError as problem:
        return [_unresolvable(path, problem)]
    return [*_resolved_findings(path, resolved), *check_python(resolved.python_version)]


def check_python(version: str | None) -> list[Finding]:
    """Local deployments need an interpreter of the environment's Python version here."""
    if version is None:
        return []
    try:
        interpreter, _ = find_interpreter(version)
    except MlkubeError as problem:
        return [warning(
            "python-unavailable",
            f"The environment needs Python {version}; none is installed here (this machine "
            f"runs {current_minor_version()}), so a local deployment cannot start; docker "
            f"and kubernetes deployments are not affected.",
            problem.hint or f"Install Python {version}.",
        )]
    return [info("python-available", f"Python {version} is available here: {interpreter}.")]


def _conda_only(path: Path) -> list[Finding]:
    try:
        spec: Any = yaml.safe_load(path.read_text())
        names = conda_only_packages(spec, source=path.name,
                                    current_python=current_minor_version())
    except (OSError, yaml.YAMLError, MlkubeError):
        return []  # reported by the resolution that follows, with its own message
    if not names:
        return []
    return [error(
        "conda-only-dependencies",
        f"{path} needs conda-only packages that mlkube cannot install into a virtualenv: "
        f"{', '.join(names)}.",
        "Move Python packages to the 'pip:' list (under their PyPI names) and provide native "
        "libraries (CUDA, MKL, compilers) through the environment's image.",
    )]


def _unresolvable(path: Path, problem: MlkubeError) -> Finding:
    return error(
        "environment-unresolvable", f"{path}: {problem.message}",
        problem.hint or "Fix the environment file.",
    )


def _resolved_findings(path: Path, resolved: ResolvedEnvironment) -> list[Finding]:
    dropped = [s for s in resolved.sources if s.startswith("dropped ")
               and any(name in s for name in _AZURE_SERVERS)]
    packages = [r for r in resolved.requirements if not r.startswith("-")]
    findings = [info(
        "environment-resolves",
        f"{path} resolves to Python {resolved.python_version or 'as mlkube runs'} and "
        f"{len(packages) - 1} packages, plus mlkube's inference server.",
    )]
    if dropped:
        findings.append(info(
            "inference-server-replaced",
            f"{path} installs Azure ML's inference server; mlkube drops it and adds its own "
            f"(same routes, same score.py contract).",
            "Remove azureml-inference-server-http / azureml-defaults from the file when you "
            "no longer deploy to Azure ML.",
        ))
    else:
        findings.append(info(
            "inference-server-added",
            f"{path} has no inference server; mlkube adds its own, so nothing needs adding "
            f"(on Azure ML this file would need azureml-inference-server-http).",
        ))
    return findings

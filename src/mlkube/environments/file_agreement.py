"""Whether an MLflow model's environment files agree, and which one is used.

MLflow writes both ``python_env.yaml`` (+ ``requirements.txt``) and ``conda.yaml``.
mlkube installs from ``python_env.yaml``; Azure ML's guidance has users edit
``conda.yaml`` (to add the inference server, pin a package, add ``cudatoolkit``), and
such an edit would otherwise be ignored without a word. This compares the two as
resolved requirement sets (Python version, packages and their versions, conda-only
packages), so the doctor and the deployment can say which file is used and what differs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from mlkube.environments.conda import conda_only_packages
from mlkube.environments.interpreters import current_minor_version
from mlkube.environments.requirements import REPLACED_BY_MLKUBE, RequirementEntry
from mlkube.environments.resolution import (
    conda_entries,
    model_environment_file,
    python_env_entries,
    read_yaml,
)
from mlkube.errors import MlkubeError


@dataclass(frozen=True)
class FileDisagreement:
    """The model's environment file that is used, the one that is not, and how they differ."""

    used: Path
    ignored: Path
    differences: tuple[str, ...]

    @property
    def summary(self) -> str:
        return (f"{self.used.name} is used and {self.ignored.name} differs from it: "
                + "; ".join(self.differences))


def environment_file_disagreement(folder: Path) -> FileDisagreement | None:
    """How ``conda.yaml`` differs from the ``python_env.yaml`` that is used; None when
    the model has not both, when they agree, or when either cannot be read (the
    resolution reports that itself)."""
    used = model_environment_file(folder)
    conda = folder / "conda.yaml"
    if used is None or used.name != "python_env.yaml" or not conda.is_file():
        return None
    try:
        env_python, env_entries = python_env_entries(used)
        spec = read_yaml(conda)
        conda_only = conda_only_packages(spec, source=conda.name,
                                         current_python=current_minor_version())
        # The conda-only packages are named below; the rest is compared as pip sees it.
        installable = {**spec, "dependencies": [
            item for item in spec.get("dependencies") or []
            if isinstance(item, dict) or str(item).strip() not in conda_only]}
        conda_python, conda_package_entries = conda_entries(installable, base_dir=folder,
                                                            label=conda.name)
    except (MlkubeError, AttributeError):
        return None  # unreadable: the resolution itself reports it
    differences: list[str] = []
    if env_python and conda_python and env_python != conda_python:
        differences.append(f"Python {conda_python} in {conda.name}, {env_python} in "
                           f"{used.name}")
    in_env, in_conda = _packages(env_entries), _packages(conda_package_entries)
    for name in sorted(set(in_conda) - set(in_env)):
        differences.append(f"{in_conda[name]} only in {conda.name}")
    for name in sorted(set(in_env) - set(in_conda)):
        differences.append(f"{in_env[name]} only in {used.name}")
    for name in sorted(set(in_env) & set(in_conda)):
        if in_env[name] != in_conda[name]:
            differences.append(f"{in_conda[name]} in {conda.name}, {in_env[name]} in "
                               f"{used.name}")
    if conda_only:
        differences.append(f"conda-only packages in {conda.name}: {', '.join(conda_only)}")
    if not differences:
        return None
    return FileDisagreement(used=used, ignored=conda, differences=tuple(differences))


def _packages(entries: list[RequirementEntry]) -> dict[str, str]:
    """Package name -> its requirement as written, mlkube's replaced servers included
    (an added azureml-inference-server-http is a difference the user made)."""
    packages: dict[str, str] = {}
    for entry in entries:
        try:
            requirement = Requirement(entry.line)
        except InvalidRequirement:
            continue
        name = canonicalize_name(requirement.name)
        packages[name] = str(requirement) if name not in REPLACED_BY_MLKUBE else entry.line
    return packages

"""Environment resolution: any way of describing an environment → ``ResolvedEnvironment``.

Azure ML environments come as an image plus a conda file, an image plus pip requirements,
or are taken from the MLflow model itself (``python_env.yaml`` + ``requirements.txt``,
``conda.yaml``, or ``requirements.txt``). All reduce to a Python version and a stable pip
requirement set, to which mlkube adds its own inference server (the seed had to add
``azureml-inference-server-http`` by hand; that package is dropped if present). Only files
named by the spec are read; nothing is installed here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from mlkube.entities.base import is_uri
from mlkube.entities.environment import Environment
from mlkube.environments.azureml_images import is_azureml_image, substitution_note
from mlkube.environments.conda import read_conda_spec
from mlkube.environments.interpreters import current_minor_version, minor_version
from mlkube.environments.requirements import (
    RequirementEntry,
    expand_requirement_lines,
    merge_requirements,
    read_requirements_file,
)
from mlkube.environments.resolved import ResolvedEnvironment
from mlkube.errors import EnvironmentResolutionError

#: The environment files of an MLflow model, in the order they are preferred.
MODEL_ENV_FILES = ("python_env.yaml", "conda.yaml", "requirements.txt")


def resolve_environment(
    source: Environment | str | os.PathLike[str],
    *,
    server_requirement: str | None = None,
    base_path: str | os.PathLike[str] | None = None,
) -> ResolvedEnvironment:
    """Resolve an ``Environment`` spec, or the environment of the MLflow model in a folder.

    ``server_requirement`` is the pip line of mlkube's server (default: the wheel built
    from this mlkube, see ``server_package``). ``base_path`` is where relative paths in an
    inline conda dict or pip list are read from (default: the current folder).
    """
    if isinstance(source, Environment):
        return resolve_spec(source, server_requirement=server_requirement, base_path=base_path)
    return resolve_model_folder(source, server_requirement=server_requirement)


def resolve_spec(
    environment: Environment,
    *,
    server_requirement: str | None = None,
    base_path: str | os.PathLike[str] | None = None,
) -> ResolvedEnvironment:
    """``image`` + ``conda_file`` and/or ``pip_requirements`` (+ ``python_version``)."""
    if environment.build is not None and environment.conda_file is None and not (
        environment.pip_requirements
    ):
        raise EnvironmentResolutionError(
            f"Environment {environment.name or ''} is a Docker build context "
            f"({environment.build.path}); it has no conda file or pip list to resolve.",
            hint="Give the environment an image plus conda_file or pip_requirements, or use "
            "it only on the docker and kubernetes targets.",
        )
    base = Path(base_path) if base_path is not None else Path.cwd()
    python_version: str | None = None
    entries: list[RequirementEntry] = []
    if environment.conda_file is not None:
        if isinstance(environment.conda_file, dict):
            conda_spec, conda_dir, label = environment.conda_file, base, "conda_file"
        else:
            conda_path = _local_file(environment.conda_file, what="conda_file")
            conda_spec, conda_dir, label = read_yaml(conda_path), conda_path.parent, (
                conda_path.name
            )
        python_version, from_conda = conda_entries(conda_spec, base_dir=conda_dir,
                                                       label=label)
        entries.extend(from_conda)
    pip = environment.pip_requirements
    if isinstance(pip, list):
        entries.extend(expand_requirement_lines(pip, base_dir=base, origin="pip_requirements"))
    elif pip is not None:
        entries.extend(read_requirements_file(_local_file(pip, what="pip_requirements")))
    if environment.python_version:
        python_version = minor_version(environment.python_version)
    image = environment.image
    if is_azureml_image(image):
        resolved = _resolved(entries, python_version=python_version, image=None,
                             server_requirement=server_requirement)
        return replace(resolved, sources=(*resolved.sources, substitution_note(str(image))))
    return _resolved(entries, python_version=python_version, image=image,
                     server_requirement=server_requirement)


def resolve_model_folder(
    path: str | os.PathLike[str], *, server_requirement: str | None = None
) -> ResolvedEnvironment:
    """The environment an MLflow model records: python_env.yaml (+ its requirements.txt),
    else conda.yaml, else requirements.txt. ``path`` is the folder with ``MLmodel`` or
    the folder above it (``AZUREML_MODEL_DIR``)."""
    folder = find_model_folder(path)
    env_file = model_environment_file(folder)
    if env_file is None:
        raise EnvironmentResolutionError(
            f"The model in {folder} has no environment file ({', '.join(MODEL_ENV_FILES)}).",
            hint="Give the deployment an environment (image + conda_file or pip "
            "requirements), or save the model with MLflow, which writes these files.",
        )
    python_version = _mlmodel_python_version(folder)
    if env_file.name == "python_env.yaml":
        env_python, entries = python_env_entries(env_file)
        python_version = env_python or python_version
    elif env_file.name == "conda.yaml":
        conda_python, entries = conda_entries(read_yaml(env_file), base_dir=folder,
                                               label="conda.yaml")
        python_version = conda_python or python_version
    else:
        entries = read_requirements_file(env_file)
    return _resolved(entries, python_version=python_version, image=None,
                     server_requirement=server_requirement)


def find_model_folder(path: str | os.PathLike[str]) -> Path:
    """The folder holding ``MLmodel``: ``path`` itself, or its one subfolder that has it
    (Azure ML's ``$AZUREML_MODEL_DIR/model`` layout); else ``path``."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise EnvironmentResolutionError(
            f"Model folder {folder} does not exist.", hint="Check the model path."
        )
    if (folder / "MLmodel").is_file():
        return folder
    inner = [p for p in sorted(folder.iterdir()) if (p / "MLmodel").is_file()]
    return inner[0] if len(inner) == 1 else folder


def model_environment_file(folder: Path) -> Path | None:
    """The environment file an MLflow model folder's environment is read from."""
    for name in MODEL_ENV_FILES:
        if (folder / name).is_file():
            return folder / name
    return None


def _resolved(
    entries: Sequence[RequirementEntry], *, python_version: str | None, image: str | None,
    server_requirement: str | None,
) -> ResolvedEnvironment:
    if server_requirement is None:
        server_requirement = default_server_requirement()
    merged = merge_requirements(entries, server_requirement=server_requirement)
    return ResolvedEnvironment(
        python_version=python_version,
        requirements=merged.lines,
        image=image,
        sources=merged.sources,
    )


def default_server_requirement() -> str:
    """The pip line that installs this mlkube's inference server (built from source)."""
    from mlkube.environments.server_package import build_server_wheel, server_requirement

    return server_requirement(build_server_wheel())


def conda_entries(
    spec: Any, *, base_dir: Path, label: str
) -> tuple[str | None, list[RequirementEntry]]:
    packages = read_conda_spec(spec, source=label, current_python=current_minor_version())
    entries = [
        RequirementEntry(requirement, f"{label} (conda {conda_spec})")
        for requirement, conda_spec in packages.converted
    ]
    entries.extend(expand_requirement_lines(packages.pip_lines, base_dir=base_dir, origin=label))
    return packages.python_version, entries


def python_env_entries(path: Path) -> tuple[str | None, list[RequirementEntry]]:
    """MLflow's python_env.yaml: ``python`` and ``dependencies``. Its
    ``build_dependencies`` (pip, setuptools, wheel pins for building the venv) are not
    installed: mlkube builds virtualenvs with uv or the interpreter's own pip."""
    spec = read_yaml(path)
    if not isinstance(spec, dict):
        raise EnvironmentResolutionError(
            f"{path} must be a mapping with 'python' and 'dependencies'.",
            hint="Write it as MLflow does: python: 3.11, dependencies: [-r requirements.txt].",
        )
    python = spec.get("python")
    dependencies = spec.get("dependencies") or []
    if not isinstance(dependencies, list):
        raise EnvironmentResolutionError(
            f"'dependencies' in {path} must be a list.",
            hint="Write dependencies as a YAML list, e.g. ['-r requirements.txt'].",
        )
    entries = expand_requirement_lines(dependencies, base_dir=path.parent, origin=path.name)
    return (minor_version(str(python)) if python else None), entries


def _mlmodel_python_version(folder: Path) -> str | None:
    try:
        mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
        version = mlmodel["flavors"]["python_function"]["python_version"]
        return minor_version(str(version))
    except (OSError, yaml.YAMLError, KeyError, TypeError, EnvironmentResolutionError):
        return None


def _local_file(value: str, *, what: str) -> Path:
    if is_uri(value):
        raise EnvironmentResolutionError(
            f"{what} {value!r} is a URI; mlkube reads {what} from a local file.",
            hint=f"Download the file and point {what} at its local path, or inline it.",
        )
    path = Path(value).expanduser()
    if not path.is_file():
        raise EnvironmentResolutionError(
            f"{what} file {path} does not exist.",
            hint=f"Fix the {what} path (relative paths in YAML are relative to the YAML file).",
        )
    return path.resolve()


def read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise EnvironmentResolutionError(
            f"{path} is not valid YAML{where}: {getattr(error, 'problem', None) or error}.",
            hint="Fix the YAML syntax at that place.",
        ) from None

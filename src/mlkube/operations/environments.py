"""``MLClient.environments``: register environment versions, fetch them, resolve and
materialise them.

Records live in the workspace's record store (``workspace.records("environments")``).
A conda file or requirements file is stored by content, not by path, so any machine that
opens the workspace can rebuild the environment. Versions auto-increment, as in Azure ML.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mlkube.entities.environment import Environment
from mlkube.environments.curated import curated_environment, is_curated_name
from mlkube.environments.interpreters import nearest_python
from mlkube.environments.requirements import expand_requirement_lines, read_requirements_file
from mlkube.environments.resolution import resolve_spec
from mlkube.environments.resolved import ResolvedEnvironment
from mlkube.environments.venv_cache import Progress, materialize
from mlkube.errors import (
    EnvironmentResolutionError,
    RequiredLocalArtifactsNotFoundError,
    ResourceNotFoundError,
)

if TYPE_CHECKING:
    from mlkube.workspace.workspace import Workspace

KIND = "environments"
# Fields that the workspace sets; they are not part of what is stored.
_READ_ONLY = ("name", "version", "id", "creation_context")
#: Tag of an environment that stands in for one of Azure ML's curated environments.
CURATED_TAG = "mlkube.curated"
# Validates at registration without building mlkube's server wheel.
_SERVER_STAND_IN = "mlkube[server]"


class EnvironmentOperations:
    """Azure ML's ``ml_client.environments``: create_or_update, get, list; plus resolve
    and materialize, which the local target and ``mlkube environment build`` use."""

    def __init__(self, workspace: Workspace, *, cache_dir: str | os.PathLike[str] | None = None
                 ) -> None:
        self._workspace = workspace
        self._cache_dir = cache_dir

    @property
    def _records(self) -> Any:
        return self._workspace.records(KIND)

    def create_or_update(self, environment: Environment) -> Environment:
        """Register a new version (the next integer unless ``environment.version`` is
        set). The environment is resolved first, so conda-only packages or a missing file
        fail here with their names, not at deployment time."""
        if not environment.name:
            raise EnvironmentResolutionError(
                "The environment has no name.",
                hint="Give it a name (name: in the YAML, --name, or Environment(name=...)).",
            )
        spec = stored_spec(environment)
        if environment.build is None:
            resolve_spec(Environment.from_dict(spec), server_requirement=_SERVER_STAND_IN)
        record = self._records.create(environment.name, spec, version=environment.version)
        return _from_record(record)

    def get(self, name: str, version: str | None = None, label: str | None = None
            ) -> Environment:
        """One version; the newest when neither ``version`` nor ``label`` ("latest") is
        given. Raises ``ResourceNotFoundError`` naming what was looked for."""
        if version is not None:
            version = str(version)
        try:
            return _from_record(self._records.get(name, version=version, label=label))
        except ResourceNotFoundError:
            if not is_curated_name(name):
                raise
        # Not registered here, and spelled like Azure ML's curated environments.
        return curated_as_environment(name)

    def list(self, name: str | None = None) -> list[Environment]:
        """Every version of ``name``, or of every environment."""
        return [_from_record(record) for record in self._records.list(name)]

    def resolve(self, environment: Environment | str, *, server_requirement: str | None = None
                ) -> ResolvedEnvironment:
        """Python version and pip requirements (mlkube's server included) of a spec or of
        a registered reference (``azureml:name:version``, ``name@latest``)."""
        spec = self.find(environment)
        return resolve_spec(spec, server_requirement=server_requirement)

    def materialize(
        self,
        environment: Environment | str,
        *,
        progress: Progress | None = None,
        allow_other_python: bool = False,
    ) -> Path:
        """The python of a cached virtualenv for the environment, built if needed."""
        spec = self.find(environment)
        if progress is not None and spec.tags.get(CURATED_TAG):
            progress(spec.description or "")
        return materialize(resolve_spec(spec), cache_dir=self._cache_dir,
                           progress=progress, allow_other_python=allow_other_python)

    def find(self, environment: Environment | str) -> Environment:
        """The spec itself, or the registered (or curated) environment a reference names."""
        if isinstance(environment, Environment):
            return environment
        from mlkube.entities.online_deployment import parse_asset_reference

        reference = parse_asset_reference(environment)
        if reference is None:
            raise EnvironmentResolutionError(
                f"{environment!r} is not an environment reference.",
                hint="Write azureml:<name>:<version>, <name>:<version> or <name>@latest.",
            )
        return self.get(reference.name, version=reference.version, label=reference.label)


def curated_as_environment(name: str) -> Environment:
    """Azure ML's curated environment ``name`` as an mlkube environment on the nearest
    Python this machine has; its description says what was substituted."""
    azure_python = curated_environment(name, python_version="").azure_python
    curated = curated_environment(name, python_version=nearest_python(azure_python))
    return Environment(name=curated.name, version="latest", description=curated.note,
                       python_version=curated.python_version,
                       pip_requirements=list(curated.packages), tags={CURATED_TAG: "true"})


def stored_spec(environment: Environment) -> dict[str, Any]:
    """The spec as stored: read-only fields dropped, the conda file and a requirements
    file inlined (``-r`` includes expanded), so the record needs no local file."""
    spec = {k: v for k, v in environment.to_dict().items() if k not in _READ_ONLY}
    conda = environment.conda_file
    if isinstance(conda, str):
        path = Path(conda).expanduser()
        if not path.is_file():
            raise RequiredLocalArtifactsNotFoundError(
                f"conda_file {path} does not exist.",
                hint="Fix the path (relative paths in YAML are relative to the YAML file).",
            )
        try:
            conda = yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            raise EnvironmentResolutionError(
                f"conda_file {path} is not valid YAML: {error}.",
                hint="Fix the YAML syntax of the conda file.",
            ) from None
        spec["conda_file"] = _inline_pip_includes(conda, base_dir=path.parent)
    elif isinstance(conda, dict):
        spec["conda_file"] = _inline_pip_includes(conda, base_dir=Path.cwd())
    pip = environment.pip_requirements
    if isinstance(pip, str):
        spec["pip_requirements"] = [e.line for e in read_requirements_file(pip)]
    elif isinstance(pip, list):
        spec["pip_requirements"] = [
            e.line for e in expand_requirement_lines(pip, base_dir=Path.cwd(),
                                                     origin="pip_requirements")
        ]
    return spec


def _inline_pip_includes(conda: Any, *, base_dir: Path) -> Any:
    """The conda spec with ``-r file`` lines of its pip list replaced by their lines."""
    if not isinstance(conda, dict) or not isinstance(conda.get("dependencies"), list):
        return conda
    dependencies = []
    for item in conda["dependencies"]:
        if isinstance(item, dict) and isinstance(item.get("pip"), list):
            lines = expand_requirement_lines(item["pip"], base_dir=base_dir, origin="conda_file")
            item = {**item, "pip": [e.line for e in lines]}
        dependencies.append(item)
    return {**conda, "dependencies": dependencies}


def _from_record(record: Any) -> Environment:
    environment = Environment.from_dict(
        {**record.spec, "name": record.name, "version": str(record.version)},
        source=f"environment record {record.name}:{record.version}",
    )
    environment.id = f"azureml:{record.name}:{record.version}"
    environment.creation_context = {"created_at": record.created_at.isoformat()}
    return environment

"""``compute: local``: each instance is an ``mlkube serve`` process on this machine.

The deployment's environment is materialised once as a cached virtualenv; each instance
runs the inference server with that virtualenv's Python, the host layout's Azure ML
variables and the deployment's own, in its code folder. The supervisor keeps it running
and appends its output to the instance log. An instance type is recorded but not
enforced: the processes share this machine.
"""

from __future__ import annotations

from pathlib import Path

from mlkube.entities.container_layout import SERVER_VARIABLES
from mlkube.entities.instance_types import InstanceResources, InstanceType
from mlkube.entities.online_deployment import OnlineDeployment
from mlkube.environments.venv_cache import materialize
from mlkube.targets.base import PreparedDeployment, Progress
from mlkube.targets.local.instance_runner import InstanceFactory
from mlkube.targets.local.state import EndpointFolder, Instance

#: What an instance type means on this target, for ``online-deployment show``.
LOCAL_SIZING = ("not enforced: local instances are processes sharing this machine's CPUs "
                "and memory (compute: docker limits each container to the size)")


class ProcessRunner:
    """Instances as supervised processes in the deployment's cached virtualenv."""

    kind = "local"

    def __init__(self, *, env_cache_dir: Path | None = None,
                 allow_other_python: bool = False) -> None:
        self.env_cache_dir = env_cache_dir
        self.allow_other_python = allow_other_python

    def resources(self, size: InstanceType, *, progress: Progress) -> InstanceResources:
        progress(f"instance type {size.name} ({size.describe()}) is not enforced on a "
                 f"{self.kind} endpoint; compute: docker limits each container to it")
        return InstanceResources.of(size, applied=LOCAL_SIZING)

    def prepare(self, folder: EndpointFolder, deployment: OnlineDeployment,
                prepared: PreparedDeployment, *, log: Progress,
                progress: Progress) -> InstanceFactory:
        # materialize says "building" or "using cached" itself (through ``log``).
        python = materialize(prepared.environment, cache_dir=self.env_cache_dir,
                             progress=log, allow_other_python=self.allow_other_python)
        argv = (str(python), "-m", "mlkube.server")
        env = server_environment(prepared, venv=python.parent.parent)
        cwd = str(prepared.code_dir) if prepared.code_dir else str(folder.path)
        return lambda program, port: Instance(program, port, argv=argv, env=env, cwd=cwd)

    def remove_orphans(self, folder: EndpointFolder, *, progress: Progress) -> None:
        """Nothing to do: a process the records do not name is one the supervisor stops."""

    def wait_until_removed(self, folder: EndpointFolder, *, deployment: str | None) -> None:
        """Nothing to do: a stopped process leaves nothing behind."""


def server_environment(prepared: PreparedDeployment, *, venv: Path) -> dict[str, str]:
    """The variables an instance runs with: the layout's Azure ML ones, every one the
    layout leaves unset blanked (so nothing leaks in from the supervisor's own
    environment), and the deployment's own. The port comes as ``--port``."""
    env = dict(prepared.environment_variables)
    env.update(dict.fromkeys(SERVER_VARIABLES, ""))
    env.pop("SERVER_PORT")
    env.update(prepared.host_layout().environment(port=None))
    env.update({
        "VIRTUAL_ENV": str(venv),
        "PYTHONPATH": "",
        "PYTHONNOUSERSITE": "1",
        "PYTHONUNBUFFERED": "1",
        # Empty means unset: the venv keeps compiled bytecode, so the second instance
        # imports MLflow in a third of the time of the first.
        "PYTHONDONTWRITEBYTECODE": "",
    })
    return env

"""``compute: docker``: each instance of a deployment is a container on this machine.

The endpoint is the same as a local one (``targets.local.target.MachineTarget``: its
folder, supervisor, gateway process, readiness probe, keys and traffic); this runner says
only what an instance is. The deployment's image is built once (rendered from its
environment, model and code, and tagged by content, so an unchanged deployment is not
rebuilt), and each instance is a supervised program (``instance.py``) that runs one
container of it with the server port published on 127.0.0.1 at the instance's port. So a
killed container is restarted with the supervisor's backoff, stopping an instance removes
its container, and the instance log is the container's output. An ``instance_type``
limits each container's CPUs and memory (``limits.py``).

Containers carry the endpoint's labels (``containers.py``); any the instance programs
could not remove (a program killed outright, a machine restart) are removed by label on
the next apply or delete.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from mlkube.entities.instance_types import InstanceResources, InstanceType
from mlkube.entities.online_deployment import OnlineDeployment
from mlkube.environments.server_package import build_server_wheel
from mlkube.errors import TargetError
from mlkube.targets.base import PreparedDeployment, Progress
from mlkube.targets.docker.build import build_ca_bundle, deployment_build_context
from mlkube.targets.docker.containers import (
    CONTAINER_ENV_VARIABLE,
    container_environment,
    container_name,
    deployment_labels,
    endpoint_labels,
    image_repository,
)
from mlkube.targets.docker.engine import DockerEngine
from mlkube.targets.docker.limits import container_limits
from mlkube.targets.local.instance_runner import InstanceFactory
from mlkube.targets.local.state import STORAGE_INITIALIZER_LOG, EndpointFolder, Instance

#: Seconds a container gets to stop before it is killed when cleaning up by label.
CLEANUP_STOP_TIMEOUT_S = 5
#: How long removing an endpoint's or deployment's containers may take in all.
CLEANUP_WAIT_S = 30.0
_POLL_S = 0.2
# The builder's bookkeeping lines (layer ids, intermediate containers).
_BUILDER_NOISE = re.compile(r"^\s*(---> |Removing intermediate container)")


class ContainerRunner:
    """Instances as supervised programs that each run one container of the deployment's
    image, through the Docker engine at ``docker_url`` (default: ``DOCKER_HOST``)."""

    kind = "docker"

    def __init__(self, *, ca_bundle: Path | None = None, docker_url: str | None = None) -> None:
        #: Trusted by pip during image builds; default: MLKUBE_CA_BUNDLE or the host's.
        self.ca_bundle = ca_bundle if ca_bundle is not None else build_ca_bundle()
        self.docker_url = docker_url

    def resources(self, size: InstanceType, *, progress: Progress) -> InstanceResources:
        """The container limits the instance type becomes here."""
        with self._engine() as engine:
            limits = container_limits(size, machine_cpus=engine.cpu_count())
        progress(f"instance type {size.name} ({size.describe()}): {limits.applied}")
        return limits.record(size)

    def prepare(self, folder: EndpointFolder, deployment: OnlineDeployment,
                prepared: PreparedDeployment, *, log: Progress,
                progress: Progress) -> InstanceFactory:
        """Build the deployment's image (output to ``log``: the storage-initializer log
        and the progress), then make instances that each run one container of it."""
        endpoint = folder.name
        context = deployment_build_context(prepared, build_server_wheel(),
                                           ca_bundle=self.ca_bundle)
        repository = image_repository(endpoint, deployment.name)
        progress(f"building image {repository}:{context.content_hash} (environment "
                 f"{prepared.environment.content_hash})")
        storage_log = folder.deployment_logs_dir(deployment.name) / STORAGE_INITIALIZER_LOG

        def build_output(line: str) -> None:
            if _BUILDER_NOISE.match(line):  # layer ids: kept in the log, not shown
                with storage_log.open("a") as handle:
                    handle.write(f"environment: {line}\n")
            else:
                log(line)

        size = deployment.instance_size
        with self._engine() as engine:
            built = engine.build_image(context, repository=repository, on_output=build_output)
            limits = (container_limits(size, machine_cpus=engine.cpu_count())
                      if size is not None else None)
        log(f"image {built.reference} ({'reused' if built.reused else 'built'})")
        labels = deployment_labels(folder.path, endpoint, deployment.name)
        sizing = (("--nano-cpus", str(limits.nano_cpus), "--memory-bytes",
                   str(limits.memory_bytes)) if limits is not None else ())
        env = {CONTAINER_ENV_VARIABLE: json.dumps(container_environment(prepared)),
               "PYTHONUNBUFFERED": "1"}
        if self.docker_url:
            env["DOCKER_HOST"] = self.docker_url

        def make_instance(program: str, port: int) -> Instance:
            argv = (sys.executable, "-m", "mlkube.targets.docker.instance",
                    "--image", built.reference,
                    "--container", container_name(folder.path, endpoint, program), *sizing,
                    *(f"--label={key}={value}" for key, value in labels.items()))
            return Instance(program, port, argv=argv, env=env, cwd=str(folder.path))

        return make_instance

    def remove_orphans(self, folder: EndpointFolder, *, progress: Progress) -> None:
        """Remove this endpoint's containers that no instance of its records runs (left
        by an instance program that was killed before it could remove its container).
        Connecting first: with Docker down, nothing of the endpoint is created."""
        with self._engine() as engine, folder.lock():
            expected = {
                container_name(folder.path, folder.name, instance.program)
                for record in folder.read_deployments().values()
                for instance in record.every_instance
            }
            for state in engine.list_containers(endpoint_labels(folder.path, folder.name)):
                if state.name not in expected and engine.remove_container(
                        state.id, timeout_s=CLEANUP_STOP_TIMEOUT_S):
                    progress(f"removed orphan container {state.name}")

    def wait_until_removed(self, folder: EndpointFolder, *, deployment: str | None) -> None:
        labels = (endpoint_labels(folder.path, folder.name) if deployment is None
                  else deployment_labels(folder.path, folder.name, deployment))
        with self._engine() as engine:
            _remove_containers(engine, labels)

    def _engine(self) -> _EngineSession:
        return _EngineSession(self.docker_url)


def _remove_containers(engine: DockerEngine, labels: dict[str, str]) -> None:
    """Return once no container carries ``labels``: the instance programs remove their
    own as they stop (possibly right now); any left over are removed here."""
    deadline = time.monotonic() + CLEANUP_WAIT_S
    while True:
        remaining = engine.list_containers(labels)
        if not remaining:
            return
        if time.monotonic() > deadline:
            names = " ".join(sorted(state.name for state in remaining))
            raise TargetError(
                f"Containers {names} could not be removed within {CLEANUP_WAIT_S:.0f}s.",
                hint=f"Remove them with `docker rm -f {names}`; check `docker info`.")
        for state in remaining:
            engine.remove_container(state.id, timeout_s=CLEANUP_STOP_TIMEOUT_S)
        time.sleep(_POLL_S)


class _EngineSession:
    """``with``: a connection to the Docker engine, closed on exit; connecting fails
    with "Docker is not running" and how to start it."""

    def __init__(self, base_url: str | None) -> None:
        self._base_url = base_url
        self._engine: DockerEngine | None = None

    def __enter__(self) -> DockerEngine:
        self._engine = DockerEngine.connect(base_url=self._base_url)
        return self._engine

    def __exit__(self, *exc_info: object) -> None:
        if self._engine is not None:
            self._engine.close()

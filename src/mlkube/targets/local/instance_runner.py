"""How an endpoint on this machine runs its instances: the one thing its targets differ in.

An endpoint with ``compute: local`` and one with ``compute: docker`` are the same thing
on this machine (``target.MachineTarget``): a folder of state, a supervisor keeping
every program running, a gateway process, readiness by probing, traffic and keys in
files, rollouts that never interrupt traffic. What differs is what one instance of a
deployment is: a supervised ``mlkube serve`` process in the deployment's virtualenv
(``process_runner.ProcessRunner``), or a supervised program running one container of the
deployment's image (``targets.docker.runner.ContainerRunner``). That difference is this
protocol, and each runner is a sibling behind it, as every httpx transport is behind
``handle_request``. The target calls each method at one moment, said in its docstring;
a runner never reaches into the target.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from mlkube.entities.instance_types import InstanceResources, InstanceType
from mlkube.entities.online_deployment import OnlineDeployment
from mlkube.targets.base import PreparedDeployment, Progress
from mlkube.targets.local.state import EndpointFolder, Instance

#: Makes one instance of a prepared deployment from its program name and its port.
InstanceFactory = Callable[[str, int], Instance]


class InstanceRunner(Protocol):
    """What a deployment's instance is, on a target that runs on this machine."""

    #: The target's kind and the compute endpoints record: "local" or "docker".
    kind: str

    def resources(self, size: InstanceType, *, progress: Progress) -> InstanceResources:
        """What ``instance_type`` becomes here (kept for ``online-deployment show``), said
        through ``progress``. Called first when a deployment that names a size is applied."""
        ...

    def prepare(self, folder: EndpointFolder, deployment: OnlineDeployment,
                prepared: PreparedDeployment, *, log: Progress,
                progress: Progress) -> InstanceFactory:
        """Make what every instance of ``deployment`` needs (a virtualenv, an image), saying
        each step through ``log`` (the storage-initializer log and the progress), and
        return how to make one instance. Called without the endpoint's lock: it may take
        minutes, and a failure here leaves the running instances as they are."""
        ...

    def remove_orphans(self, folder: EndpointFolder, *, progress: Progress) -> None:
        """Before an endpoint or deployment is applied: remove what runs for this endpoint
        although no record names it (left by an instance killed outright), and fail, before
        anything is written, when instances cannot be run at all (Docker not running)."""
        ...

    def wait_until_removed(self, folder: EndpointFolder, *, deployment: str | None) -> None:
        """After the supervisor stopped the instances of a deleted endpoint (or of its
        ``deployment``): return once nothing of them is left (``folder`` may be gone)."""
        ...

"""An instance type as a docker container's limits: ``NanoCpus`` and ``Memory``.

A deployment on ``compute: docker`` with ``instance_type: Standard_DS3_v2`` runs each
instance in a container limited to that size, so a model that needs more than its size
fails here as it would on Azure, before it is deployed there. Docker refuses a CPU limit
above the machine's CPU count, so a larger size is capped at it (and ``show`` says so);
memory is limited as the size says. GPUs are not passed to containers: the docker target
runs models on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlkube.entities.instance_types import InstanceResources, InstanceType

NANO = 10**9


@dataclass(frozen=True)
class ContainerLimits:
    """What each container of a deployment may use."""

    nano_cpus: int
    memory_bytes: int
    #: One line for ``online-deployment show``: the limits, and why they differ from the size.
    applied: str

    def record(self, size: InstanceType) -> InstanceResources:
        return InstanceResources.of(size, applied=self.applied)


def container_limits(size: InstanceType, *, machine_cpus: int) -> ContainerLimits:
    """The limits of a container of ``size`` on an engine with ``machine_cpus`` CPUs."""
    wanted = int(size.vcpus * NANO)
    nano_cpus = min(wanted, machine_cpus * NANO)
    cpus = size.cpu if nano_cpus == wanted else str(machine_cpus)
    notes = []
    if nano_cpus < wanted:
        notes.append(f"CPUs capped at this machine's {machine_cpus} (the size has {size.cpu})")
    if size.gpus:
        notes.append(f"its {size.gpus} GPU{'s' if size.gpus > 1 else ''} not given: "
                     "docker containers run models on the CPU")
    applied = (f"docker container limits: {cpus} CPU{'' if cpus == '1' else 's'} "
               f"(NanoCpus {nano_cpus}), {size.memory} memory (Memory {size.memory_bytes})")
    if notes:
        applied += "; " + "; ".join(notes)
    return ContainerLimits(nano_cpus=nano_cpus, memory_bytes=size.memory_bytes,
                           applied=applied)

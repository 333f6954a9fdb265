"""An instance type as docker container limits: what the engine is told, and why it may
differ from the VM size (more CPUs than this machine has, GPUs)."""

from __future__ import annotations

from mlkube.entities.instance_types import instance_type
from mlkube.targets.docker.limits import container_limits


def test_a_size_that_fits_the_machine_is_its_cpus_and_memory_exactly() -> None:
    limits = container_limits(instance_type("Standard_DS1_v2"), machine_cpus=2)
    assert (limits.nano_cpus, limits.memory_bytes) == (10**9, 3584 * 2**20)
    assert limits.applied == (f"docker container limits: 1 CPU (NanoCpus {10**9}), "
                              f"3584Mi memory (Memory {3584 * 2**20})")


def test_more_cpus_than_the_machine_has_are_capped_and_the_cap_is_said() -> None:
    # Docker refuses a NanoCpus above the machine's CPU count.
    limits = container_limits(instance_type("Standard_DS3_v2"), machine_cpus=2)
    assert limits.nano_cpus == 2 * 10**9
    assert limits.memory_bytes == 14 * 2**30
    assert "2 CPUs (NanoCpus 2000000000)" in limits.applied
    assert "CPUs capped at this machine's 2 (the size has 4)" in limits.applied


def test_gpus_of_an_n_series_size_are_said_not_to_reach_the_container() -> None:
    limits = container_limits(instance_type("Standard_NC6s_v3"), machine_cpus=64)
    assert limits.nano_cpus == 6 * 10**9
    assert "its 1 GPU not given" in limits.applied
    shown = limits.record(instance_type("Standard_NC6s_v3"))
    assert (shown.cpu, shown.memory, shown.gpu) == ("6", "112Gi", 1)

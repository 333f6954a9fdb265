"""Azure instance types mean the published VM sizes, and a mistyped one is refused with
the names it was probably meant to be."""

from __future__ import annotations

import pytest

from mlkube.entities.instance_types import (
    find_instance_type,
    instance_type,
    instance_types,
)
from mlkube.entities.online_deployment import ManagedOnlineDeployment, load_online_deployment
from mlkube.errors import ValidationError


@pytest.mark.parametrize("name, cpu, memory, gpus", [
    # The sizes Azure ML's samples and the seed name, as Microsoft publishes them.
    ("Standard_DS3_v2", "4", "14Gi", 0),
    ("Standard_D2_v2", "2", "7Gi", 0),
    ("Standard_DS1_v2", "1", "3584Mi", 0),
    ("Standard_F4s_v2", "4", "8Gi", 0),
    ("Standard_E4s_v3", "4", "32Gi", 0),
    ("Standard_E64_v3", "64", "432Gi", 0),
    ("Standard_E64s_v4", "64", "504Gi", 0),
    ("Standard_D96s_v5", "96", "384Gi", 0),
    ("Standard_A2m_v2", "2", "16Gi", 0),
    ("Standard_B1ls", "1", "512Mi", 0),
    ("Standard_NC6s_v3", "6", "112Gi", 1),
    ("Standard_NC64as_T4_v3", "64", "440Gi", 4),
    ("Standard_ND40rs_v2", "40", "672Gi", 8),
    ("Standard_NV24s_v3", "24", "224Gi", 2),
])
def test_azure_vm_sizes_map_to_their_published_cpus_memory_and_gpus(
        name: str, cpu: str, memory: str, gpus: int) -> None:
    size = instance_type(name)
    assert (size.cpu, size.memory, size.gpus) == (cpu, memory, gpus)


def test_instance_types_are_found_whatever_their_case_as_azure_accepts_them() -> None:
    # The seed's main.py creates AmlCompute(size="STANDARD_D2_V2").
    size = instance_type("STANDARD_D2_V2")
    assert size.name == "Standard_D2_v2"
    assert size.memory_bytes == 7 * 2**30


def test_the_table_covers_the_common_families_once_each() -> None:
    names = [size.name.lower() for size in instance_types()]
    assert len(names) == len(set(names))
    for family in ("standard_a", "standard_b", "standard_d", "standard_ds", "standard_e",
                   "standard_f", "standard_nc", "standard_nd", "standard_nv"):
        assert any(n.startswith(family) for n in names), family
    for version in ("_v2", "_v3", "_v4", "_v5"):
        assert find_instance_type(f"Standard_D4s{version}" if version != "_v2"
                                  else "Standard_DS3_v2") is not None
    # Only N-series sizes have GPUs; Kubernetes cannot request half a GPU (NV6).
    assert all(s.gpus == 0 for s in instance_types() if not s.name.startswith("Standard_N"))
    assert find_instance_type("Standard_NV6") is None


def test_azure_ml_default_kubernetes_instance_type_requests_less_than_its_limits() -> None:
    size = instance_type("defaultinstancetype")
    assert (size.cpu_request, size.cpu, size.memory) == ("100m", "2", "2Gi")


@pytest.mark.parametrize("typed, suggested", [
    ("Standard_DS3_v3", "Standard_DS3_v2"),
    ("Standard_DS3v2", "Standard_DS3_v2"),
    ("DS3_v2", "Standard_DS3_v2"),
    ("Standard_NC6_v3", "Standard_NC6s_v3"),
])
def test_unknown_instance_type_is_refused_with_the_nearest_names(
        typed: str, suggested: str) -> None:
    with pytest.raises(ValidationError) as caught:
        instance_type(typed)
    assert f"instance type {typed!r} is not an Azure VM size" in caught.value.message
    assert "did you mean" in caught.value.message
    assert suggested in caught.value.message.split("did you mean", 1)[1]


def test_instance_type_like_nothing_known_lists_the_families_instead() -> None:
    with pytest.raises(ValidationError, match="knows the A, B, D, E, F, NC, ND and NV"):
        instance_type("gpu-large")


def test_deployment_with_a_mistyped_instance_type_fails_when_built_naming_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        ManagedOnlineDeployment(name="blue", endpoint_name="iris", model="iris:1",
                                instance_type="Standard_DS3_V3")
    assert "instance_type" in caught.value.message
    assert "did you mean Standard_DS3_v2?" in caught.value.message  # that one alone


def test_deployment_yaml_with_a_mistyped_instance_type_names_the_file(tmp_path) -> None:
    spec = tmp_path / "blue.yml"
    spec.write_text("name: blue\nendpoint_name: iris\nmodel: azureml:iris:1\n"
                    "instance_type: Standard_F4s_v3\n")
    with pytest.raises(ValidationError) as caught:
        load_online_deployment(spec)
    assert str(spec) in caught.value.message
    assert "Standard_F4s_v2" in caught.value.message


def test_deployment_knows_the_size_its_instance_type_names() -> None:
    deployment = ManagedOnlineDeployment(name="blue", endpoint_name="iris", model="iris:1",
                                         instance_type="standard_e4s_v3")
    assert deployment.instance_type == "standard_e4s_v3"  # kept as written
    assert deployment.instance_size is not None
    assert deployment.instance_size.describe() == "4 vCPUs, 32Gi memory"

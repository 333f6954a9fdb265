"""Azure VM sizes as CPUs, memory and GPUs: what ``instance_type: Standard_DS3_v2`` means.

Azure ML sizes a managed deployment's instances by VM size; a script or YAML ported
from it keeps ``instance_type``. mlkube reads the size here and every target applies
what it can: Kubernetes pods get it as requests and limits (unless the deployment gives
``resources``), docker containers as CPU and memory limits, local processes nothing
(they share this machine). One table, so the three cannot disagree.

The figures are Microsoft's published sizes, taken from the Azure VM size pages in
github.com/MicrosoftDocs/azure-docs, ``articles/virtual-machines/sizes/`` (the "Basics"
and "Accelerators" tabs of each series page; Ev3/Esv3 from
``articles/virtual-machines/ev3-esv3-series.md``). Memory is per VM, in GiB as those
tables give it. ``defaultinstancetype`` is the instance type Azure ML creates on an
attached Kubernetes cluster (learn.microsoft.com/azure/machine-learning/
how-to-manage-kubernetes-instance-types): requests 100m CPU / 2Gi, limits 2 CPUs / 2Gi.

Left out on purpose: sizes with a fraction of a GPU (Standard_NV6 has half an M60),
which Kubernetes cannot request, and the constrained-core variants (``E16-4s_v3``).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from decimal import Decimal

from mlkube.entities.sdk_resource import SdkResource
from mlkube.errors import ValidationError

#: Azure ML's instance type on an attached Kubernetes cluster when none is named.
DEFAULT_KUBERNETES_INSTANCE_TYPE = "defaultinstancetype"


@dataclass(frozen=True)
class InstanceType:
    """One Azure VM size: what an instance of that size may use."""

    name: str
    vcpus: Decimal
    memory_mib: int
    gpus: int = 0
    #: Kubernetes CPU request when below ``vcpus`` (Azure's defaultinstancetype only;
    #: a VM size is requested whole, as the VM is the instance's alone on Azure).
    cpu_request: str | None = None

    @property
    def cpu(self) -> str:
        """The CPUs as a Kubernetes quantity ("4", "0.5")."""
        return format(self.vcpus.normalize(), "f")

    @property
    def memory(self) -> str:
        """The memory as a Kubernetes quantity ("14Gi", "3584Mi")."""
        if self.memory_mib % 1024 == 0:
            return f"{self.memory_mib // 1024}Gi"
        return f"{self.memory_mib}Mi"

    @property
    def memory_bytes(self) -> int:
        return self.memory_mib * 2**20

    def describe(self) -> str:
        """``4 vCPUs, 14Gi memory`` (and the GPUs an N-series size has)."""
        gpus = f", {self.gpus} GPU{'s' if self.gpus > 1 else ''}" if self.gpus else ""
        return f"{self.cpu} vCPU{'' if self.vcpus == 1 else 's'}, {self.memory} memory{gpus}"


class InstanceResources(SdkResource):
    """What a deployment's ``instance_type`` became on the target that runs it: the
    size's figures and what the target did with them (``online-deployment show``)."""

    instance_type: str
    cpu: str
    memory: str
    gpu: int | None = None
    #: How the target applied the size ("docker container limits: ...", "not enforced").
    applied: str

    @classmethod
    def of(cls, size: InstanceType, *, applied: str) -> InstanceResources:
        return cls(instance_type=size.name, cpu=size.cpu, memory=size.memory,
                   gpu=size.gpus or None, applied=applied)


def _size(name: str, vcpus: int, memory_gib: float, gpus: int = 0) -> InstanceType:
    return InstanceType(name, Decimal(vcpus), round(memory_gib * 1024), gpus)


def _series(pattern: str, sizes: tuple[tuple[int, float], ...]) -> tuple[InstanceType, ...]:
    """Sizes named ``pattern.format(vcpus)`` (``Standard_D{}s_v3``) with their memory."""
    return tuple(_size(pattern.format(vcpus), vcpus, memory) for vcpus, memory in sizes)


# Dv3-v5 and Ev3-v5 sizes share their figures between the plain and the "s" series.
_D_V3_V4 = ((2, 8), (4, 16), (8, 32), (16, 64), (32, 128), (48, 192), (64, 256))
_D_V5 = (*_D_V3_V4, (96, 384))
_E_V3 = ((2, 16), (4, 32), (8, 64), (16, 128), (20, 160), (32, 256), (48, 384), (64, 432))
_E_V4 = (*_E_V3[:-1], (64, 504))
_E_V5 = (*_E_V3[:-1], (64, 512), (96, 672))
_DV2 = ((1, 1, 3.5), (2, 2, 7), (3, 4, 14), (4, 8, 28), (5, 16, 56),
        (11, 2, 14), (12, 4, 28), (13, 8, 56), (14, 16, 112), (15, 20, 140))

_TABLE: tuple[InstanceType, ...] = (
    # Av2-series (general-purpose/av2-series.md).
    _size("Standard_A1_v2", 1, 2), _size("Standard_A2_v2", 2, 4),
    _size("Standard_A4_v2", 4, 8), _size("Standard_A8_v2", 8, 16),
    _size("Standard_A2m_v2", 2, 16), _size("Standard_A4m_v2", 4, 32),
    _size("Standard_A8m_v2", 8, 64),
    # Bv1-series, burstable (general-purpose/bv1-series.md): the full vCPU count, not the
    # baseline share, since that is what a burst may use.
    _size("Standard_B1ls", 1, 0.5), _size("Standard_B1s", 1, 1), _size("Standard_B1ms", 1, 2),
    _size("Standard_B2s", 2, 4), _size("Standard_B2ms", 2, 8), _size("Standard_B4ms", 4, 16),
    _size("Standard_B8ms", 8, 32), _size("Standard_B12ms", 12, 48),
    _size("Standard_B16ms", 16, 64), _size("Standard_B20ms", 20, 80),
    # Dv2 / DSv2 1-5 (general-purpose/dv2-series.md, dsv2-series.md) and 11-15
    # (memory-optimized/dv2-dsv2-series-memory.md).
    *(_size(f"Standard_D{n}_v2", vcpus, memory) for n, vcpus, memory in _DV2),
    *(_size(f"Standard_DS{n}_v2", vcpus, memory) for n, vcpus, memory in _DV2),
    # Dv3 / Dsv3, Dv4 / Dsv4, Dv5 / Dsv5 (general-purpose/d*-series.md).
    *_series("Standard_D{}_v3", _D_V3_V4), *_series("Standard_D{}s_v3", _D_V3_V4),
    *_series("Standard_D{}_v4", _D_V3_V4), *_series("Standard_D{}s_v4", _D_V3_V4),
    *_series("Standard_D{}_v5", _D_V5), *_series("Standard_D{}s_v5", _D_V5),
    # Ev3 / Esv3, Ev4 / Esv4, Ev5 / Esv5 (ev3-esv3-series.md, memory-optimized/e*-series.md).
    *_series("Standard_E{}_v3", _E_V3), *_series("Standard_E{}s_v3", _E_V3),
    *_series("Standard_E{}_v4", _E_V4), *_series("Standard_E{}s_v4", _E_V4),
    *_series("Standard_E{}_v5", _E_V5), *_series("Standard_E{}s_v5", _E_V5),
    # Fsv2-series (compute-optimized/fsv2-series.md).
    *_series("Standard_F{}s_v2", ((2, 4), (4, 8), (8, 16), (16, 32), (32, 64), (48, 96),
                                  (64, 128), (72, 144))),
    # NC (K80), NCv3 (V100), NCasT4_v3 (T4), NC A100 v4 (gpu-accelerated/nc*-series.md).
    _size("Standard_NC6", 6, 56, 1), _size("Standard_NC12", 12, 112, 2),
    _size("Standard_NC24", 24, 224, 4), _size("Standard_NC24r", 24, 224, 4),
    _size("Standard_NC6s_v3", 6, 112, 1), _size("Standard_NC12s_v3", 12, 224, 2),
    _size("Standard_NC24s_v3", 24, 448, 4), _size("Standard_NC24rs_v3", 24, 448, 4),
    _size("Standard_NC4as_T4_v3", 4, 28, 1), _size("Standard_NC8as_T4_v3", 8, 56, 1),
    _size("Standard_NC16as_T4_v3", 16, 110, 1), _size("Standard_NC64as_T4_v3", 64, 440, 4),
    _size("Standard_NC24ads_A100_v4", 24, 220, 1), _size("Standard_NC48ads_A100_v4", 48, 440, 2),
    _size("Standard_NC96ads_A100_v4", 96, 880, 4),
    # NDv2 (V100), NDasrA100_v4 and NDm_A100_v4 (gpu-accelerated/nd*-series.md). The
    # series page spells the A100 size Standard_ND96asr_A100_v4; Azure ML's lists and the
    # VM API call it Standard_ND96asr_v4: both are accepted.
    _size("Standard_ND40rs_v2", 40, 672, 8), _size("Standard_ND96asr_v4", 96, 900, 8),
    _size("Standard_ND96asr_A100_v4", 96, 900, 8),
    _size("Standard_ND96amsr_A100_v4", 96, 1900, 8),
    # NV (M60) and NVv3 (gpu-accelerated/nv-series.md, nvv3-series.md).
    _size("Standard_NV12", 12, 112, 1), _size("Standard_NV24", 24, 224, 2),
    _size("Standard_NV12s_v3", 12, 112, 1), _size("Standard_NV24s_v3", 24, 224, 2),
    _size("Standard_NV48s_v3", 48, 448, 4),
    InstanceType(DEFAULT_KUBERNETES_INSTANCE_TYPE, Decimal(2), 2048, cpu_request="100m"),
)

_BY_NAME = {size.name.lower(): size for size in _TABLE}
_PREFIX = "standard_"


def instance_types() -> tuple[InstanceType, ...]:
    """Every size mlkube knows, in table order (families together)."""
    return _TABLE


def find_instance_type(name: str) -> InstanceType | None:
    """The size ``name`` names (case does not matter, as on Azure), or None."""
    return _BY_NAME.get(name.strip().lower())


def instance_type(name: str) -> InstanceType:
    """The size ``name`` names, or an error listing the nearest known names."""
    found = find_instance_type(name)
    if found is None:
        raise ValidationError(unknown_instance_type(name),
                              hint="Use an Azure VM size from the README's instance type "
                                   "table, or give Kubernetes resources instead.")
    return found


def unknown_instance_type(name: str) -> str:
    """Why ``name`` is refused, with a did-you-mean from the known sizes."""
    typed = name.strip().lower()
    # "DS3_v2" is close to "standard_ds3_v2" only once the prefix is there too.
    guesses = {typed, typed if typed.startswith(_PREFIX) else _PREFIX + typed}
    scored: dict[str, float] = {}
    for guess in guesses:
        for match in difflib.get_close_matches(guess, _BY_NAME, n=5, cutoff=0.75):
            # Sizes differ in a digit or a letter, so many are equally similar; the one
            # that agrees longest from the start (family, then vCPUs) is the likely one.
            score = (difflib.SequenceMatcher(None, guess, match).ratio()
                     + 0.02 * len(os.path.commonprefix([guess, match])))
            scored[match] = max(score, scored.get(match, 0.0))
    best = max(scored.values(), default=0.0)
    nearest = [_BY_NAME[m].name for m in sorted(scored, key=lambda m: -scored[m])
               if scored[m] >= best - 0.05][:3]
    suggestion = (f"did you mean {' or '.join(nearest)}?" if nearest
                  else "mlkube knows the A, B, D, E, F, NC, ND and NV families")
    return f"instance type {name!r} is not an Azure VM size mlkube knows; {suggestion}"

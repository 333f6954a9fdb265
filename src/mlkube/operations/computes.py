"""``MLClient.computes``: the built-in ``local`` and ``docker`` computes, and attached
Kubernetes clusters (kept in the workspace's record store, kind ``computes``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlkube.entities.compute import (
    BUILTIN_COMPUTES,
    Compute,
    KubernetesCompute,
    builtin_compute,
)
from mlkube.errors import ConflictError, ResourceNotFoundError, ValidationError
from mlkube.operations.poller import LROPoller

if TYPE_CHECKING:
    from mlkube.workspace.records import Record, RecordStore
    from mlkube.workspace.workspace import Workspace

KIND = "computes"
_READ_ONLY = ("name", "provisioning_state", "created_at")


def _from_record(record: Record) -> Compute:
    data = {**record.spec, "name": record.name, "provisioning_state": "Succeeded",
            "created_at": record.created_at.isoformat()}
    if data.get("type") == "kubernetes":
        return KubernetesCompute.from_dict(data, source=f"compute {record.name}")
    return Compute.from_dict(data, source=f"compute {record.name}")


class ComputeOperations:
    """Azure ML's ``ml_client.computes``: get, list, attach (``begin_attach``), detach."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    @property
    def _records(self) -> RecordStore:
        return self._workspace.records(KIND)

    def attach(self, compute: Compute) -> Compute:
        """Record an attached Kubernetes cluster under ``compute.name``; attaching the same
        settings again is a no-op, other settings under a taken name a ``ConflictError``."""
        if compute.name in BUILTIN_COMPUTES:
            raise ValidationError(
                f"{compute.name!r} is a built-in compute and cannot be attached.",
                hint="Choose another name for the cluster.",
            )
        if not isinstance(compute, KubernetesCompute):
            raise ValidationError(
                f"Compute {compute.name!r} has type {compute.type!r}; only Kubernetes "
                "clusters are attached.",
                hint="Use KubernetesCompute(name=..., kubeconfig=..., context=..., "
                "namespace=..., registry=...).",
            )
        spec = {k: v for k, v in compute.to_dict().items() if k not in _READ_ONLY}
        existing = self._records.list(compute.name)
        if existing:
            current = existing[-1]
            if current.spec == spec:
                return _from_record(current)
            raise ConflictError(
                f"A compute named {compute.name!r} is already attached with other settings.",
                hint=f"Detach it first (`mlkube compute detach --name {compute.name}`) or "
                "choose another name.",
            )
        return _from_record(self._records.create(compute.name, spec))

    def begin_attach(self, compute: Compute) -> LROPoller[Compute]:
        return LROPoller(lambda _report: self.attach(compute), progress=None,
                         description=f"attach of compute {compute.name}")

    begin_create_or_update = begin_attach

    def get(self, name: str) -> Compute:
        if name in BUILTIN_COMPUTES:
            return builtin_compute(name)
        records = self._records.list(name)
        if not records:
            raise ResourceNotFoundError(
                f"No compute named {name!r} in the workspace.",
                hint="List the computes with `mlkube compute list`; attach a cluster with "
                "`mlkube compute attach`.",
            )
        return _from_record(records[-1])

    def list(self) -> list[Compute]:
        """The built-in computes, then every attached cluster."""
        attached: dict[str, Record] = {}
        for record in self._records.list():
            attached[record.name] = record  # the newest version of each name wins
        return [builtin_compute(n) for n in BUILTIN_COMPUTES] + [
            _from_record(r) for r in attached.values()]

    def detach(self, name: str) -> None:
        if name in BUILTIN_COMPUTES:
            raise ValidationError(f"{name!r} is a built-in compute and cannot be detached.",
                                  hint="Only attached Kubernetes clusters can be detached.")
        records = self._records.list(name)
        if not records:
            raise ResourceNotFoundError(
                f"No compute named {name!r} to detach.",
                hint="List the computes with `mlkube compute list`.",
            )
        for record in records:
            self._records.delete(name, record.version)

    def begin_detach(self, name: str) -> LROPoller[None]:
        return LROPoller(lambda _report: self.detach(name), progress=None,
                         description=f"detach of compute {name}")

    begin_delete = begin_detach

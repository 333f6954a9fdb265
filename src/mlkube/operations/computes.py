"""``MLClient.computes`` (also ``MLClient.compute``, Azure's spelling): the built-in
``local`` and ``docker`` computes, attached Kubernetes clusters and ``AmlCompute``
training clusters (kept in the workspace's record store, kind ``computes``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlkube.entities.compute import (
    BUILTIN_COMPUTES,
    AmlCompute,
    Compute,
    KubernetesCompute,
    builtin_compute,
    compute_class,
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
    return compute_class(data).from_dict(data, source=f"compute {record.name}")


class ComputeOperations:
    """Azure ML's ``ml_client.computes``: get, list, create_or_update (an AmlCompute),
    attach (a Kubernetes cluster), detach / delete."""

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
                "namespace=..., registry=...), or create an AmlCompute with "
                "create_or_update.",
            )
        spec = {k: v for k, v in compute.to_dict().items() if k not in _READ_ONLY}
        existing = self._records.list(compute.name)
        if existing:
            current = existing[-1]
            if current.spec == spec:
                return _from_record(current)
            if current.spec.get("type") != "kubernetes":
                raise ConflictError(
                    f"A compute named {compute.name!r} already exists and is an "
                    f"{current.spec.get('type')} compute.",
                    hint="Choose another name for the cluster.")
            raise ConflictError(
                f"A compute named {compute.name!r} is already attached with other settings.",
                hint=f"Detach it first (`mlkube compute detach --name {compute.name}`) or "
                "choose another name.",
            )
        return _from_record(self._records.create(compute.name, spec))

    def begin_attach(self, compute: Compute) -> LROPoller[Compute]:
        return LROPoller(lambda _report: self.attach(compute), progress=None,
                         description=f"attach of compute {compute.name}")

    def create_or_update(self, compute: Compute) -> Compute:
        """Create or update an ``AmlCompute`` (its settings may change, as on Azure ML);
        attach a ``KubernetesCompute``."""
        if not isinstance(compute, AmlCompute):
            return self.attach(compute)
        if compute.name in BUILTIN_COMPUTES:
            raise ValidationError(
                f"{compute.name!r} is a built-in compute; an AmlCompute needs another name.",
                hint="Name the training cluster, e.g. AmlCompute(name='cpu-cluster', ...).")
        spec = {k: v for k, v in compute.to_dict().items() if k not in _READ_ONLY}
        existing = self._records.list(compute.name)
        if existing and existing[-1].spec.get("type") != "amlcompute":
            raise ConflictError(
                f"A compute named {compute.name!r} already exists and is a "
                f"{existing[-1].spec.get('type')} compute.",
                hint="Choose another name for the AmlCompute.")
        if existing and existing[-1].spec == spec:
            return _from_record(existing[-1])
        return _from_record(self._records.create(compute.name, spec))

    def begin_create_or_update(self, compute: Compute) -> LROPoller[Compute]:
        """Azure's ``ml_client.compute.begin_create_or_update(compute).result()``."""
        return LROPoller(lambda _report: self.create_or_update(compute), progress=None,
                         description=f"creation of compute {compute.name}")

    def get(self, name: str) -> Compute:
        if name in BUILTIN_COMPUTES:
            return builtin_compute(name)
        records = self._records.list(name)
        if not records:
            raise ResourceNotFoundError(
                f"No compute named {name!r} in the workspace.",
                hint="List the computes with `mlkube compute list`; create a training "
                "cluster with `mlkube compute create --name NAME --type amlcompute`, attach a "
                "Kubernetes cluster with `mlkube compute attach`.",
            )
        return _from_record(records[-1])

    def list(self) -> list[Compute]:
        """The built-in computes, then every attached cluster and AmlCompute."""
        attached: dict[str, Record] = {}
        for record in self._records.list():
            attached[record.name] = record  # the newest version of each name wins
        return [builtin_compute(n) for n in BUILTIN_COMPUTES] + [
            _from_record(r) for r in attached.values()]

    def detach(self, name: str) -> None:
        if name in BUILTIN_COMPUTES:
            raise ValidationError(f"{name!r} is a built-in compute and cannot be detached.",
                                  hint="Only attached clusters and AmlComputes can be removed.")
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

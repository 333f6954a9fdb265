"""The state of an endpoint on this machine (``compute: local`` or ``docker``): the files
in its folder, and what they derive.

State is files, so a later CLI process (or another one at the same time) sees and
changes the same running endpoint. Layout of ``<workspace>/endpoints/<endpoint>/``::

    endpoint.json              the endpoint's spec, its gateway port, its state
    keys.json                  primary/secondary/token-signing keys (mode 0600)
    gateway.json               the gateway's config (re-read live by the gateway)
    deployments/<name>.json    one record per deployment (spec, state, instances)
    logs/gateway.log           the gateway's log
    logs/registry-watcher.log  the registry watcher's log (while a deployment follows a label)
    logs/autoscaler.log        the autoscaler's decisions (elastic deployments only)
    logs/<deployment>/...      one log per instance, and storage-initializer.log
    programs.json, status.json supervisor files (see ``supervisor``)
    .lock                      flock held while a command changes the state

What the gateway routes and which processes run are *pure functions* of these records
(``render_gateway_config``, ``render_programs``), so applying a change is: update a
record, re-render both, write them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mlkube import request_defaults
from mlkube.atomic_files import read_json, write_bytes_atomic, write_json_atomic
from mlkube.entities.elastic_scale import elastic_scale
from mlkube.entities.online_endpoint import NAME_PATTERN
from mlkube.errors import ValidationError
from mlkube.gateway.config import (
    DeploymentRoute,
    GatewayConfig,
    ScaleToZero,
    dump_gateway_config,
)
from mlkube.gateway.engine import gateway_command
from mlkube.targets.local.processes import ProgramSpec, set_programs

ENDPOINT_FILE = "endpoint.json"
KEYS_FILE = "keys.json"
GATEWAY_CONFIG_FILE = "gateway.json"
DEPLOYMENTS_DIR = "deployments"
LOGS_DIR = "logs"
LOCK_FILE = ".lock"
GATEWAY_PROGRAM = "gateway"
REGISTRY_WATCHER_PROGRAM = "registry-watcher"
#: How often a local registry watcher asks the registry (one alias read per deployment).
LOCAL_WATCH_INTERVAL_SECONDS = 2.0
#: Runs beside the gateway when a deployment is elastic (``autoscaler.py``).
AUTOSCALER_PROGRAM = "autoscaler"
STORAGE_INITIALIZER_LOG = "storage-initializer.log"
#: How often the gateway re-reads its files: a traffic shift is live within this.
GATEWAY_RELOAD_SECONDS = 0.2


@dataclass(frozen=True)
class Instance:
    """One inference-server process of a deployment, with the command it runs.

    Each instance keeps its own command (environment, variables, code folder), so
    starting a new generation never changes, and so never restarts, the one serving.
    """

    program: str
    port: int
    #: argv before ``--port``/``--host``, extra environment variables, working folder.
    argv: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def to_json(self) -> dict[str, Any]:
        return {"program": self.program, "port": self.port, "argv": list(self.argv),
                "env": self.env, "cwd": self.cwd}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Instance:
        return cls(program=str(data["program"]), port=int(data["port"]),
                   argv=tuple(data.get("argv") or ()), env=dict(data.get("env") or {}),
                   cwd=data.get("cwd"))


@dataclass(frozen=True)
class DeploymentRecord:
    """What the local target knows of one deployment.

    ``instances`` serve traffic (they are in the gateway's config); ``pending`` are a new
    generation being started, which replaces them only once every one is ready;
    ``draining`` are the replaced ones, kept running until the gateway has stopped
    sending them requests.

    An elastic deployment (``autoscaler.py``) has every instance it may ever run made
    when it is applied: those not running wait in ``standby`` (a program name and a port
    each); the autoscaler moves them to ``starting`` (running, not routed to), then to
    ``instances`` once ready, and back through ``stopping`` (running, no longer routed
    to, until its requests in flight are done) to ``standby``.
    """

    name: str
    spec: dict[str, Any]
    state: str = "Creating"
    reason: str | None = None
    generation: int = 0
    instances: tuple[Instance, ...] = ()
    pending: tuple[Instance, ...] = ()
    draining: tuple[Instance, ...] = ()
    standby: tuple[Instance, ...] = ()
    starting: tuple[Instance, ...] = ()
    stopping: tuple[Instance, ...] = ()
    updated_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "spec": self.spec, "state": self.state, "reason": self.reason,
            "generation": self.generation,
            "instances": [i.to_json() for i in self.instances],
            "pending": [i.to_json() for i in self.pending],
            "draining": [i.to_json() for i in self.draining],
            "standby": [i.to_json() for i in self.standby],
            "starting": [i.to_json() for i in self.starting],
            "stopping": [i.to_json() for i in self.stopping],
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeploymentRecord:
        return cls(
            name=str(data["name"]), spec=dict(data.get("spec") or {}),
            state=str(data.get("state") or "Creating"), reason=data.get("reason"),
            generation=int(data.get("generation") or 0),
            instances=tuple(Instance.from_json(i) for i in data.get("instances") or []),
            pending=tuple(Instance.from_json(i) for i in data.get("pending") or []),
            draining=tuple(Instance.from_json(i) for i in data.get("draining") or []),
            standby=tuple(Instance.from_json(i) for i in data.get("standby") or []),
            starting=tuple(Instance.from_json(i) for i in data.get("starting") or []),
            stopping=tuple(Instance.from_json(i) for i in data.get("stopping") or []),
            updated_at=float(data.get("updated_at") or 0.0),
        )

    def with_changes(self, **changes: Any) -> DeploymentRecord:
        return replace(self, updated_at=time.time(), **changes)

    @property
    def every_instance(self) -> tuple[Instance, ...]:
        """Every instance that runs for this deployment: serving, pending, draining, and
        the autoscaler's starting and stopping ones."""
        return (*self.instances, *self.pending, *self.draining, *self.starting,
                *self.stopping)


class EndpointFolder:
    """The files of one local endpoint (nothing is read until asked)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name

    # --- paths -------------------------------------------------------------------------
    @property
    def endpoint_file(self) -> Path:
        return self.path / ENDPOINT_FILE

    @property
    def keys_file(self) -> Path:
        return self.path / KEYS_FILE

    @property
    def gateway_config_file(self) -> Path:
        return self.path / GATEWAY_CONFIG_FILE

    @property
    def logs_dir(self) -> Path:
        return self.path / LOGS_DIR

    def deployment_file(self, name: str) -> Path:
        return self.path / DEPLOYMENTS_DIR / f"{_checked(name)}.json"

    def deployment_logs_dir(self, name: str) -> Path:
        return self.logs_dir / _checked(name)

    def instance_log(self, deployment: str, program: str) -> Path:
        return self.deployment_logs_dir(deployment) / f"{program}.log"

    def exists(self) -> bool:
        return self.endpoint_file.is_file()

    # --- records -----------------------------------------------------------------------
    def read_endpoint(self) -> dict[str, Any] | None:
        return read_json(self.endpoint_file, default=None)

    def write_endpoint(self, record: dict[str, Any]) -> None:
        write_json_atomic(self.endpoint_file, record)

    def read_deployment(self, name: str) -> DeploymentRecord | None:
        data = read_json(self.deployment_file(name), default=None)
        return DeploymentRecord.from_json(data) if data else None

    def read_deployments(self) -> dict[str, DeploymentRecord]:
        folder = self.path / DEPLOYMENTS_DIR
        records = {}
        for file in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            data = read_json(file, default=None)
            if data:
                record = DeploymentRecord.from_json(data)
                records[record.name] = record
        return records

    def write_deployment(self, record: DeploymentRecord) -> None:
        write_json_atomic(self.deployment_file(record.name), record.to_json())

    def remove_deployment(self, name: str) -> None:
        self.deployment_file(name).unlink(missing_ok=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive among processes changing this endpoint; released if the holder dies."""
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / LOCK_FILE, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _checked(name: str) -> str:
    """A deployment name that is safe as a file name (Azure's rule), else ValidationError."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name) or len(name) > 32:
        raise ValidationError(
            f"{name!r} is not a deployment name.",
            hint="Deployment names start with a letter and hold letters, digits and '-'.")
    return name


# --- what the records imply (pure) -----------------------------------------------------


def render_gateway_config(endpoint: dict[str, Any],
                          deployments: dict[str, DeploymentRecord]) -> GatewayConfig:
    """The gateway's config: serving instances of every deployment, traffic and mirror.

    A deployment with serving instances is routed to even while a new generation
    starts or after it failed (the previous instances keep serving); one with none says
    why (state and reason), so a request that reaches it gets 424 naming the cause.
    """
    spec = endpoint["spec"]
    routes = {}
    for name, record in sorted(deployments.items()):
        if record.state == "Deleting":
            continue
        settings = record.spec.get("request_settings") or {}
        elastic = elastic_scale(record.spec)
        sleeps = elastic is not None and elastic.scale_to_zero_after_s is not None
        # Scaled to zero (the autoscaler stopped every instance): routed, and held.
        serving = bool(record.instances) or (sleeps and record.state == "Succeeded")
        state = "Succeeded" if serving else (
            record.state if record.state in ("Creating", "Updating", "Failed") else "Updating")
        routes[name] = DeploymentRoute(
            name=name,
            instances=tuple(i.url for i in record.instances),
            request_timeout_ms=int(settings.get("request_timeout_ms",
                                                request_defaults.REQUEST_TIMEOUT_MS)),
            max_concurrent_requests_per_instance=int(settings.get(
                "max_concurrent_requests_per_instance",
                request_defaults.MAX_CONCURRENT_REQUESTS_PER_INSTANCE)),
            max_queue_wait_ms=int(settings.get("max_queue_wait_ms",
                                               request_defaults.MAX_QUEUE_WAIT_MS)),
            state=state,
            reason=None if serving else (record.reason or "no instance is running yet"),
            scale_to_zero=(ScaleToZero(after_s=float(elastic.scale_to_zero_after_s or 0),
                                       held_limit=elastic.held_limit)
                           if sleeps and elastic is not None else None),
        )
    traffic = {name: pct for name, pct in (spec.get("traffic") or {}).items() if name in routes}
    mirror = {name: pct for name, pct in (spec.get("mirror_traffic") or {}).items()
              if name in routes}
    return GatewayConfig(endpoint=spec["name"], auth_mode=spec.get("auth_mode", "key"),
                         traffic=traffic, mirror_traffic=mirror, deployments=routes)


def render_programs(folder: EndpointFolder, endpoint: dict[str, Any],
                    deployments: dict[str, DeploymentRecord]) -> dict[str, ProgramSpec]:
    """Every process the endpoint needs: its gateway and each deployment's instances."""
    programs = {GATEWAY_PROGRAM: gateway_program(folder, port=int(endpoint["port"]))}
    if any(elastic_scale(record.spec) is not None for record in deployments.values()):
        programs[AUTOSCALER_PROGRAM] = ProgramSpec(
            argv=[sys.executable, "-m", "mlkube.targets.local.autoscaler", str(folder.path)],
            log=folder.logs_dir / "autoscaler.log", env={"PYTHONUNBUFFERED": "1"})
    for name, record in deployments.items():
        for instance in record.every_instance:
            programs[instance.program] = ProgramSpec(
                argv=[*instance.argv, "--port", str(instance.port), "--host", "127.0.0.1"],
                log=folder.instance_log(name, instance.program),
                env=dict(instance.env),
                cwd=Path(instance.cwd) if instance.cwd else None,
            )
    if any(record.spec.get("follow_model_label") for record in deployments.values()):
        programs[REGISTRY_WATCHER_PROGRAM] = registry_watcher_program(folder)
    return programs


def registry_watcher_program(folder: EndpointFolder) -> ProgramSpec:
    """The endpoint's registry watcher (``operations.registry_watcher``), run while one of
    its deployments follows its model's label. It reaches the workspace as the supervisor
    does (the folder, and the tracking URI of the environment that started it), and its
    command never changes, so publishing a change never restarts it mid-rollout."""
    workspace_root = folder.path.parent.parent
    return ProgramSpec(
        argv=[sys.executable, "-m", "mlkube.cli.main", "watch-registry",
              "--workspace", str(workspace_root), "--endpoint", folder.path.name,
              "--interval", str(LOCAL_WATCH_INTERVAL_SECONDS)],
        log=folder.logs_dir / "registry-watcher.log",
        env={"PYTHONUNBUFFERED": "1"},
    )


def publish(folder: EndpointFolder) -> str:
    """Write the gateway config and the process list the records imply; return the
    config's digest. Call it with the endpoint's lock held."""
    endpoint = folder.read_endpoint() or {}
    deployments = folder.read_deployments()
    config = render_gateway_config(endpoint, deployments)
    write_bytes_atomic(folder.gateway_config_file, dump_gateway_config(config).encode())
    set_programs(folder.path, render_programs(folder, endpoint, deployments))
    return config.digest


def gateway_program(folder: EndpointFolder, *, port: int) -> ProgramSpec:
    """The gateway process: the native engine when it is installed, else this mlkube's
    Python (``gateway/engine.py``)."""
    return ProgramSpec(
        argv=gateway_command(config=folder.gateway_config_file, keys=folder.keys_file,
                             port=port, host="127.0.0.1",
                             reload_interval_s=GATEWAY_RELOAD_SECONDS),
        log=folder.logs_dir / "gateway.log",
        env={"PYTHONUNBUFFERED": "1"},
    )


def endpoints_root(workspace_root: Path) -> Path:
    """Where a workspace keeps its local endpoints."""
    return Path(os.path.abspath(workspace_root)) / "endpoints"


def recorded_compute(workspace_root: Path, name: str) -> str | None:
    """The compute an endpoint kept on this machine runs on (``local`` or ``docker``),
    None when this machine keeps no endpoint ``name``: what operations ask before they
    know which target to talk to, without reading this folder's files themselves."""
    record = read_json(endpoints_root(workspace_root) / name / ENDPOINT_FILE, default=None)
    if record is None:
        return None
    return str(record.get("compute") or "local")

"""Endpoints on this machine: a gateway and supervised instances on 127.0.0.1.

``compute: local`` and ``compute: docker`` are one target here, ``MachineTarget``, told
how an instance runs by its ``InstanceRunner`` (``instance_runner.py``): a process in the
deployment's virtualenv (``ProcessRunner``) or a container of its image
(``targets.docker.runner.ContainerRunner``). Everything else is shared, through the
collaborators it is made of: the endpoint's folder and records (``state.py``), the
detached supervisor that outlives the CLI and restarts what crashes (``processes.py``),
the gateway process on a port fixed for the endpoint's lifetime (so its ``scoring_uri``
never changes) and the wait for it to serve a change (``gateway_sync.py``), readiness by
probing (``readiness.py``), and the instance logs (``instance_logs.py``). An elastic
deployment (``target_utilization``, scale to zero) is applied with standby instances
that the endpoint's autoscaler (``autoscaler.py``, supervised beside the gateway)
starts and drains as the gateway's load says.

Changes never interrupt traffic: a deployment's new instances start beside the old ones
and are routed to only once all are ready; the old ones stop only after the gateway has
confirmed (by the config digest it serves) that it no longer sends them requests.
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path
from typing import Any, Generic, TypeVar

from mlkube.atomic_files import write_bytes_atomic
from mlkube.entities.elastic_scale import initial_instances
from mlkube.entities.online_deployment import READ_ONLY_FIELDS, OnlineDeployment
from mlkube.entities.online_endpoint import NAME_PATTERN, OnlineEndpoint
from mlkube.errors import (
    DeploymentFailedError,
    LocalEndpointNotFoundError,
    ValidationError,
)
from mlkube.gateway.auth import (
    EndpointKeys,
    dump_endpoint_keys,
    generate_keys,
    load_endpoint_keys,
    regenerate_key,
)
from mlkube.targets.base import ContainerType, PreparedDeployment, Progress
from mlkube.targets.local.gateway_sync import wait_for_config, wait_for_keys
from mlkube.targets.local.instance_logs import deployment_logs
from mlkube.targets.local.instance_runner import InstanceRunner
from mlkube.targets.local.processes import (
    read_status,
    stop_supervisor,
    supervisor_pid,
)
from mlkube.targets.local.readiness import NotReadyError, wait_until_ready
from mlkube.targets.local.state import (
    STORAGE_INITIALIZER_LOG,
    DeploymentRecord,
    EndpointFolder,
    endpoints_root,
    publish,
)

#: How long stopping a deployment's processes may take (the supervisor's grace is 10 s).
STOP_WAIT_SECONDS = 30.0
_POLL_SECONDS = 0.1


Runner = TypeVar("Runner", bound=InstanceRunner)


class MachineTarget(Generic[Runner]):
    """Endpoints of one workspace on this machine, whose instances ``instances`` runs."""

    def __init__(self, workspace_root: Path, instances: Runner) -> None:
        self.root = endpoints_root(workspace_root)
        self.instances = instances
        #: "local" or "docker": what the instances are, and the compute endpoints record.
        self.kind = instances.kind

    # --- endpoints -----------------------------------------------------------------------

    def apply_endpoint(self, endpoint: OnlineEndpoint, *, progress: Progress) -> OnlineEndpoint:
        folder = self._folder(endpoint.name)
        self.instances.remove_orphans(folder, progress=progress)
        with folder.lock():
            existing = folder.read_endpoint()
            deployments = folder.read_deployments()
            previous = (_stored_endpoint(existing["spec"]) if existing and existing.get("spec")
                        else None)
            spec = endpoint.stored_spec(previous=previous)
            _stored_endpoint(spec).check_traffic_names(deployments)
            if existing is None:
                progress(f"creating {self.kind} endpoint {endpoint.name}")
                port = _free_port()
                if not folder.keys_file.is_file():
                    _write_keys(folder, generate_keys())
            else:
                progress(f"updating {self.kind} endpoint {endpoint.name}")
                port = int(existing["port"])
            # This target runs it, whatever compute the spec named (local=True wins).
            record = {"spec": spec, "port": port, "compute": self.kind,
                      "created_at": (existing or {}).get("created_at", time.time())}
            folder.write_endpoint(record)
            digest = self._publish(folder)
        wait_for_config(folder, digest)
        return self.get_endpoint(endpoint.name)

    def get_endpoint(self, name: str) -> OnlineEndpoint:
        folder = self._existing(name)
        record = folder.read_endpoint() or {}
        running = supervisor_pid(folder.path) is not None
        return _endpoint_entity(record, scoring_uri=self.scoring_uri(name),
                                state="Succeeded" if running else "Failed")

    def list_endpoints(self) -> list[OnlineEndpoint]:
        if not self.root.is_dir():
            return []
        found = []
        for path in sorted(self.root.iterdir()):
            if EndpointFolder(path).exists():
                try:
                    found.append(self.get_endpoint(path.name))
                except LocalEndpointNotFoundError:
                    continue  # deleted meanwhile
        return found

    def delete_endpoint(self, name: str, *, progress: Progress) -> None:
        folder = self._existing(name)
        with folder.lock():
            progress(f"stopping the gateway and every deployment of {name}")
            stop_supervisor(folder.path)
            shutil.rmtree(folder.path, ignore_errors=True)
        self.instances.wait_until_removed(folder, deployment=None)
        progress(f"deleted {self.kind} endpoint {name}")

    def scoring_uri(self, name: str) -> str:
        record = self._existing(name).read_endpoint() or {}
        return f"http://127.0.0.1:{record['port']}/score"

    def endpoint_keys(self, name: str) -> EndpointKeys:
        folder = self._existing(name)
        return load_endpoint_keys(folder.keys_file.read_text(), source=str(folder.keys_file))

    def regenerate_key(self, name: str, key_type: str, *, progress: Progress) -> None:
        folder = self._existing(name)
        with folder.lock():
            keys = regenerate_key(self.endpoint_keys(name), key_type)
            _write_keys(folder, keys)
        progress(f"regenerated the {key_type} key; waiting for the gateway to use it")
        wait_for_keys(folder, keys)

    # --- deployments ---------------------------------------------------------------------

    def apply_deployment(self, deployment: OnlineDeployment, prepared: PreparedDeployment, *,
                         progress: Progress) -> OnlineDeployment:
        endpoint_name = _endpoint_name(deployment)
        folder = self._existing(endpoint_name)
        self.instances.remove_orphans(folder, progress=progress)
        deployment = self._with_instance_resources(deployment, progress=progress)
        name = deployment.name
        logs_dir = folder.deployment_logs_dir(name)
        logs_dir.mkdir(parents=True, exist_ok=True)
        storage_log = logs_dir / STORAGE_INITIALIZER_LOG
        storage_log.write_text("".join(f"{line}\n" for line in prepared.notes))

        def log_and_report(line: str) -> None:
            with storage_log.open("a") as handle:
                handle.write(f"environment: {line}\n")
            progress(f"environment: {line}")

        make_instance = self.instances.prepare(folder, deployment, prepared,
                                               log=log_and_report, progress=progress)
        with folder.lock():
            previous = folder.read_deployment(name)
            generation = (previous.generation if previous else 0) + 1
            initial, total = initial_instances(deployment)
            made = tuple(make_instance(f"{name}-{generation}-{index}", _free_port())
                         for index in range(total))
            # An elastic deployment's other instances wait as standby (autoscaler.py).
            pending, standby = made[:initial], made[initial:]
            fields: dict[str, Any] = dict(
                spec=deployment.stored_spec(), generation=generation, pending=pending, reason=None)
            if previous is None:
                record = DeploymentRecord(name=name, state="Creating", **fields)
            else:
                record = previous.with_changes(state="Updating", **fields)
            folder.write_deployment(record.with_changes())
            self._publish(folder)
        progress(f"starting {len(pending)} instance(s) of {name} "
                 f"on port(s) {', '.join(str(i.port) for i in pending)}")
        probe = deployment.readiness_probe
        try:
            seconds = wait_until_ready(
                {i.program: i.url for i in pending}, state_dir=folder.path,
                logs={i.program: folder.instance_log(name, i.program) for i in pending},
                budget_s=probe.budget_seconds, probe_timeout_s=float(probe.timeout),
                progress=progress)
        except NotReadyError as failure:
            self._fail(folder, name, failure.cause)
            log = folder.instance_log(name, failure.program)
            raise DeploymentFailedError(
                f"Deployment {name} of endpoint {endpoint_name} failed: instance "
                f"{failure.program} {_cause_phrase(failure.cause)}.\n"
                f"Last lines of its log ({log}):\n{failure.log_tail}",
                hint=f"Fix the cause above, then create the deployment again; the whole "
                f"log: `mlkube online-deployment get-logs -n {name} -e {endpoint_name}`.",
            ) from None
        with folder.lock():
            record = folder.read_deployment(name) or record
            record = record.with_changes(
                state="Succeeded", reason=None, instances=pending, pending=(),
                draining=(*record.instances, *record.starting, *record.stopping),
                standby=standby, starting=(), stopping=())
            folder.write_deployment(record)
            digest = self._publish(folder)
        wait_for_config(folder, digest)
        with folder.lock():
            current = folder.read_deployment(name)
            if current is not None:
                folder.write_deployment(current.with_changes(draining=()))
            self._publish(folder)
        progress(f"deployment {name} is ready ({seconds:.1f}s to ready)")
        return self.get_deployment(endpoint_name, name)

    def get_deployment(self, endpoint_name: str, name: str) -> OnlineDeployment:
        folder = self._existing(endpoint_name)
        record = folder.read_deployment(name)
        if record is None:
            raise _deployment_not_found(endpoint_name, name)
        return _deployment_entity(record, running=_running_programs(folder))

    def list_deployments(self, endpoint_name: str) -> list[OnlineDeployment]:
        folder = self._existing(endpoint_name)
        running = _running_programs(folder)
        return [_deployment_entity(record, running=running)
                for record in folder.read_deployments().values()]

    def delete_deployment(self, endpoint_name: str, name: str, *, progress: Progress) -> None:
        folder = self._existing(endpoint_name)
        with folder.lock():
            record = folder.read_deployment(name)
            if record is None:
                raise _deployment_not_found(endpoint_name, name)
            spec = (folder.read_endpoint() or {}).get("spec")
            if spec:
                _stored_endpoint(spec).check_deployment_removable(name)
            folder.write_deployment(record.with_changes(state="Deleting"))
            digest = self._publish(folder)
        progress(f"removing {name} from the gateway")
        wait_for_config(folder, digest)
        with folder.lock():
            folder.remove_deployment(name)
            self._publish(folder)
        progress(f"stopping the instances of {name}")
        programs = {i.program for i in record.every_instance}
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        while set(read_status(folder.path)) & programs and time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)
        shutil.rmtree(folder.deployment_logs_dir(name), ignore_errors=True)
        self.instances.wait_until_removed(folder, deployment=name)
        progress(f"deleted deployment {name}")

    def deployment_logs(self, endpoint_name: str, name: str, *, lines: int | None,
                        container_type: ContainerType, previous: bool = False) -> str:
        folder = self._existing(endpoint_name)
        record = folder.read_deployment(name)
        if record is None:
            raise _deployment_not_found(endpoint_name, name)
        return deployment_logs(folder, record, lines=lines, container_type=container_type,
                               previous=previous)

    # --- internals -----------------------------------------------------------------------

    def _with_instance_resources(self, deployment: OnlineDeployment, *,
                                 progress: Progress) -> OnlineDeployment:
        """The deployment with what its instance type became here (kept for ``show``)."""
        size = deployment.instance_size
        resources = (self.instances.resources(size, progress=progress)
                     if size is not None else None)  # an update may have dropped it
        return deployment.model_copy(update={"instance_resources": resources})

    def _folder(self, name: str) -> EndpointFolder:
        # Names become folder names: anything but Azure's name rule is refused here.
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise ValidationError(
                f"{name!r} is not an endpoint name.",
                hint="Endpoint names start with a letter and hold letters, digits and '-'.")
        return EndpointFolder(self.root / name)

    def _existing(self, name: str) -> EndpointFolder:
        folder = self._folder(name)
        if not folder.exists():
            raise LocalEndpointNotFoundError(
                f"Local endpoint {name} does not exist (no state in {folder.path}).",
                hint="List endpoints with `mlkube online-endpoint list --local`, or create it "
                "with `mlkube online-endpoint create --local -n NAME`.")
        return folder

    def _publish(self, folder: EndpointFolder) -> str:
        """Write the gateway config and the process list implied by the records; return
        the config's digest. Called with the endpoint's lock held."""
        return publish(folder)

    def _fail(self, folder: EndpointFolder, name: str, cause: str) -> None:
        """Record the failure and stop the new instances; the previous ones (if any) keep
        serving, and a request pinned to a deployment with none gets 424 with the cause."""
        with folder.lock():
            record = folder.read_deployment(name)
            if record is not None:
                folder.write_deployment(record.with_changes(state="Failed", reason=cause,
                                                            pending=()))
            digest = self._publish(folder)
        wait_for_config(folder, digest)


# --- pure helpers ---------------------------------------------------------------------------


def _stored_endpoint(spec: dict[str, Any]) -> OnlineEndpoint:
    return OnlineEndpoint.from_dict(spec, source="local endpoint state")


def _endpoint_entity(record: dict[str, Any], *, scoring_uri: str, state: str) -> OnlineEndpoint:
    data = dict(record.get("spec") or {})
    data.setdefault("compute", record.get("compute") or "local")
    entity = OnlineEndpoint.from_dict(data, source="local endpoint state")
    entity.scoring_uri = scoring_uri
    entity.openapi_uri = scoring_uri.removesuffix("/score") + "/swagger.json"
    entity.provisioning_state = state
    return entity


def _deployment_entity(record: DeploymentRecord, *, running: set[str]) -> OnlineDeployment:
    data = {k: v for k, v in record.spec.items() if k not in READ_ONLY_FIELDS}
    entity = OnlineDeployment.from_dict(data, source="local deployment state")
    entity.provisioning_state = record.state
    # Current: the processes of this version still up, serving or finishing their
    # requests (a drained one counts until the supervisor has stopped it). Desired: what
    # the scaling wants (serving and starting), or the new version's count in a rollout.
    entity.current_instances = sum(
        1 for i in (*record.instances, *record.stopping, *record.standby)
        if i.program in running)
    entity.desired_instances = (len(record.pending) if record.pending
                                else len(record.instances) + len(record.starting))
    entity.provisioning_error = record.reason if record.state == "Failed" else None
    return entity


def _running_programs(folder: EndpointFolder) -> set[str]:
    return {name for name, status in read_status(folder.path).items()
            if status.state == "running"}


def _endpoint_name(deployment: OnlineDeployment) -> str:
    if not deployment.endpoint_name:
        raise ValidationError(
            f"Deployment {deployment.name} has no endpoint_name.",
            hint="Set endpoint_name in the deployment (or pass --endpoint-name).")
    return deployment.endpoint_name


def _deployment_not_found(endpoint_name: str, name: str) -> LocalEndpointNotFoundError:
    return LocalEndpointNotFoundError(
        f"Deployment {name} does not exist in local endpoint {endpoint_name}.",
        hint=f"List them with `mlkube online-deployment list -e {endpoint_name}`.")


def _cause_phrase(cause: str) -> str:
    return cause if cause.startswith(("not ready", "the ")) else f"failed: {cause}"


def _write_keys(folder: EndpointFolder, keys: EndpointKeys) -> None:
    write_bytes_atomic(folder.keys_file, dump_endpoint_keys(keys).encode(), mode=0o600)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

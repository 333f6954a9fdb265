"""The only module that talks to the Docker Engine (through the ``docker`` SDK's
low-level ``APIClient``).

It does what the ``docker`` target and the Kubernetes image step need and nothing more:
build an image from a rendered ``BuildContext`` (skipped when the content-addressed tag
exists), tag and push it to a registry, run a container with its ports published on
127.0.0.1 only, read its state and logs, and stop and remove containers by label.
Engine errors become mlkube errors that say what to do; callers never see a
``docker.errors`` exception.

Its length is one thin wrapper per Engine API call mlkube makes (build, tag, push,
run, inspect, logs, remove), each turning the client's errors into mlkube's.
"""

from __future__ import annotations

import collections
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlkube.environments.dockerfile import BuildContext
from mlkube.errors import (
    ConflictError,
    EnvironmentBuildError,
    ResourceNotFoundError,
    TargetError,
)

#: Label every container and image mlkube creates carries, so cleanup finds only ours.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "mlkube"
#: Published ports are bound here only: a deployment is never reachable from the network.
PUBLISH_HOST = "127.0.0.1"

_BUILD_TIMEOUT_S = 3600
_LAST_LINES = 25
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# The builder's own bookkeeping lines, which say nothing about a failure.
_BUILDER_NOISE = re.compile(r"^\s*(---> |Removing intermediate container|Sending build context)")
_NON_ZERO = re.compile(r"^The command .* returned a non-zero code: (\d+)$", re.DOTALL)

NOT_RUNNING_HINT = (
    "Start it with `sudo systemctl start docker` (or `sudo dockerd &`; in CI "
    "`bash .ci/start-docker.sh`), or deploy with compute: local."
)


@dataclass(frozen=True)
class BuiltImage:
    """An image ready to run."""

    reference: str
    image_id: str
    #: True when the tag existed and nothing was built.
    reused: bool


@dataclass(frozen=True)
class ContainerState:
    """What a container is doing, as the engine reports it."""

    id: str
    name: str
    #: created, running, restarting, exited, dead, ...
    status: str
    running: bool
    exit_code: int | None
    oom_killed: bool
    error: str
    labels: Mapping[str, str] = field(default_factory=dict)
    #: container port -> host port on 127.0.0.1, for the published ones.
    ports: Mapping[int, int] = field(default_factory=dict)


class DockerEngine:
    """A connection to one Docker Engine."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def connect(cls, *, base_url: str | None = None, timeout_s: float = 120) -> DockerEngine:
        """Connect to the engine of ``base_url`` (default: ``DOCKER_HOST`` or the local
        socket) and check that it answers."""
        from docker.utils import kwargs_from_env

        import docker

        kwargs = kwargs_from_env()
        if base_url:
            kwargs["base_url"] = base_url
        where = kwargs.get("base_url") or "unix:///var/run/docker.sock"
        try:
            client = docker.APIClient(version="auto", timeout=timeout_s, **kwargs)
            client.ping()
        except docker.errors.DockerException as error:
            raise TargetError(
                f"Docker is not running: the engine at {where} does not answer ({error}).",
                hint=NOT_RUNNING_HINT,
            ) from None
        return cls(client)

    def close(self) -> None:
        self._client.close()

    def cpu_count(self) -> int:
        """The CPUs the engine's machine has: the most a container may be limited to."""
        import docker

        try:
            return int(self._client.info()["NCPU"])
        except docker.errors.APIError as error:
            raise self._engine_error("reading the engine's info", error) from None

    # --- images -----------------------------------------------------------------------

    def image_exists(self, reference: str) -> bool:
        import docker

        try:
            self._client.inspect_image(reference)
            return True
        except docker.errors.ImageNotFound:
            return False
        except docker.errors.APIError as error:
            raise self._engine_error(f"inspecting image {reference}", error) from None

    def build_image(
        self,
        context: BuildContext,
        *,
        repository: str = "mlkube/deployment",
        labels: Mapping[str, str] | None = None,
        on_output: Callable[[str], None] | None = None,
        log_path: Path | None = None,
    ) -> BuiltImage:
        """Build ``context`` as ``repository:<content hash>``, unless that tag exists.

        Build output goes line by line to ``on_output`` and to ``log_path``. A failed
        build raises ``EnvironmentBuildError`` naming the failing step, with the last
        lines of its output.
        """
        reference = f"{repository}:{context.content_hash}"
        if self.image_exists(reference):
            image_id = self._client.inspect_image(reference)["Id"]
            if on_output:
                on_output(f"Image {reference} is up to date: nothing to build.")
            return BuiltImage(reference=reference, image_id=image_id, reused=True)
        if context.default_base_image and not self.image_exists(context.base_image):
            # Any other missing base image is pulled by the engine; this one is on no
            # registry, so say how to make it instead of failing on a pull.
            raise EnvironmentBuildError(
                f"The base image {context.base_image} is not in this Docker engine.",
                hint="Make it from Debian packages with `sudo bash .ci/base-image.sh` in "
                "mlkube's source tree (about a minute), or give the environment an image "
                "with python3 and venv that this engine can pull (environment.image, or "
                "MLKUBE_BASE_IMAGE for every environment).",
            )
        image_labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, **(labels or {})}
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
        log = log_path.open("w", encoding="utf-8") if log_path else None
        try:
            with tempfile.TemporaryFile() as archive:
                context.write_tar(archive)
                archive.seek(0)
                image_id = self._stream_build(
                    archive, reference, image_labels, context.steps,
                    on_output=on_output, log=log, log_path=log_path,
                )
        finally:
            if log:
                log.close()
        return BuiltImage(reference=reference, image_id=image_id, reused=False)

    def tag_image(self, source: str, reference: str) -> None:
        """Give the image ``source`` the extra name ``reference`` (``[host/]repo:tag``)."""
        import docker

        repository, tag = split_reference(reference)
        try:
            self._client.tag(source, repository, tag=tag, force=True)
        except docker.errors.ImageNotFound:
            raise ResourceNotFoundError(
                f"The image {source} is not in the Docker engine, so it cannot be tagged.",
                hint="Build it first; images are built when a deployment is created.",
            ) from None
        except docker.errors.APIError as error:
            raise self._engine_error(f"tagging {source} as {reference}", error) from None

    def push_image(self, reference: str) -> Iterator[dict[str, Any]]:
        """Push ``reference`` to its registry: the engine's progress chunks, as decoded
        JSON (a failed push ends with an ``error`` chunk; read it with the caller's
        parser, which knows what the registry is for)."""
        import docker

        repository, tag = split_reference(reference)
        try:
            stream = self._client.push(repository, tag=tag, stream=True, decode=True)
            yield from stream
        except docker.errors.APIError as error:
            raise self._engine_error(f"pushing {reference}", error) from None
        except docker.errors.DockerException as error:
            raise TargetError(
                f"Docker is not running: the push of {reference} lost the engine ({error}).",
                hint=NOT_RUNNING_HINT,
            ) from None

    def remove_image(self, reference: str) -> None:
        import docker

        try:
            self._client.remove_image(reference, force=True)
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as error:
            raise self._engine_error(f"removing image {reference}", error) from None

    def _stream_build(
        self,
        archive: Any,
        reference: str,
        labels: Mapping[str, str],
        titles: Sequence[str],
        *,
        on_output: Callable[[str], None] | None,
        log: Any,
        log_path: Path | None,
    ) -> str:
        import docker

        # Output of the step running now only: on failure, that is the cause.
        last_lines: collections.deque[str] = collections.deque(maxlen=_LAST_LINES)
        step = "sending the build context"
        image_id = ""
        try:
            stream = self._client.build(
                fileobj=archive, custom_context=True, tag=reference, rm=True, forcerm=True,
                decode=True, pull=False, labels=dict(labels), timeout=_BUILD_TIMEOUT_S,
            )
            for line, chunk in _build_lines(stream):
                if chunk.get("aux", {}).get("ID"):
                    image_id = chunk["aux"]["ID"]
                if "errorDetail" in chunk or "error" in chunk:
                    message = chunk.get("error") or chunk["errorDetail"].get("message", "")
                    if log:
                        log.write(f"ERROR: {message}\n")
                    raise _build_failed(reference, step, message, last_lines, log_path)
                if line is None:
                    continue
                line = _ANSI.sub("", line)
                match = _STEP.match(line)
                if match:
                    step = _step_title(int(match[1]), int(match[2]), match[3], titles)
                    last_lines.clear()
                elif not _BUILDER_NOISE.match(line):
                    last_lines.append(line)
                if log:
                    log.write(line + "\n")
                    log.flush()
                if on_output:
                    on_output(line)
        except docker.errors.APIError as error:
            raise _build_failed(
                reference, step, str(error.explanation or error), last_lines, log_path
            ) from None
        except docker.errors.DockerException as error:
            raise TargetError(
                f"Docker is not running: the build of {reference} lost the engine ({error}).",
                hint=NOT_RUNNING_HINT,
            ) from None
        if not image_id:
            image_id = self._client.inspect_image(reference)["Id"]
        return image_id

    # --- containers -------------------------------------------------------------------

    def run_container(
        self,
        image: str,
        *,
        name: str,
        environment: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        ports: Sequence[int] = (),
        command: Sequence[str] | None = None,
        user: str | None = None,
        read_only: bool = False,
        tmpfs: Mapping[str, str] | None = None,
        mem_limit: str | int | None = None,
        nano_cpus: int | None = None,
        replace: bool = False,
        host_ports: Mapping[int, int] | None = None,
    ) -> ContainerState:
        """Start a container of ``image`` named ``name``; each of ``ports`` is published
        on a free port of 127.0.0.1 (read the choice from the returned state's ``ports``),
        or on the port ``host_ports`` gives it (for a URL that must outlive the container).

        ``mem_limit`` (bytes, or "2g") and ``nano_cpus`` (CPUs x 10^9) limit what the
        container may use. ``replace`` removes an existing container of that name first;
        otherwise an existing one is a ``ConflictError``.
        """
        import docker

        if replace:
            self.remove_container(name)
        chosen = host_ports or {}
        host_config = self._client.create_host_config(
            port_bindings={port: (PUBLISH_HOST, chosen[port]) if port in chosen
                           else (PUBLISH_HOST,) for port in ports},
            read_only=read_only,
            tmpfs=dict(tmpfs) if tmpfs else None,
            mem_limit=mem_limit,
            nano_cpus=nano_cpus,
        )
        try:
            created = self._client.create_container(
                image,
                name=name,
                command=list(command) if command is not None else None,
                environment=dict(environment or {}),
                labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE, **(labels or {})},
                ports=list(ports),
                user=user,
                host_config=host_config,
                detach=True,
            )
            self._client.start(created["Id"])
        except docker.errors.ImageNotFound:
            raise ResourceNotFoundError(
                f"The image {image} is not in the Docker engine.",
                hint="Build it first (mlkube builds deployment images on create), or "
                "check the image reference.",
            ) from None
        except docker.errors.APIError as error:
            if error.status_code == 409:
                raise ConflictError(
                    f"A container named {name} already exists.",
                    hint=f"Delete the deployment that owns it, or `docker rm -f {name}`.",
                ) from None
            raise self._engine_error(f"starting container {name}", error) from None
        return self.container_state(created["Id"])

    def container_state(self, container: str) -> ContainerState:
        """The state of ``container`` (a name or id)."""
        import docker

        try:
            info = self._client.inspect_container(container)
        except docker.errors.NotFound:
            raise ResourceNotFoundError(
                f"There is no container {container}.",
                hint="It was removed or never started; recreate the deployment.",
            ) from None
        except docker.errors.APIError as error:
            raise self._engine_error(f"inspecting container {container}", error) from None
        return _container_state(info)

    def list_containers(self, labels: Mapping[str, str]) -> list[ContainerState]:
        """Every container (running or not) carrying all of ``labels``."""
        import docker

        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        try:
            found = self._client.containers(all=True, filters=filters)
        except docker.errors.APIError as error:
            raise self._engine_error("listing containers", error) from None
        states = []
        for container in found:
            try:
                states.append(_container_state(self._client.inspect_container(container["Id"])))
            except docker.errors.NotFound:
                continue  # removed between the listing and the inspection
            except docker.errors.APIError as error:
                raise self._engine_error("listing containers", error) from None
        return states

    def logs(self, container: str, *, tail: int | None = None) -> str:
        """The container's stdout and stderr, interleaved (the last ``tail`` lines)."""
        import docker

        try:
            raw = self._client.logs(
                container, stdout=True, stderr=True, tail="all" if tail is None else tail
            )
        except docker.errors.NotFound:
            raise ResourceNotFoundError(
                f"There is no container {container} to read logs from.",
                hint="It was removed; recreate the deployment to see new logs.",
            ) from None
        except docker.errors.APIError as error:
            raise self._engine_error(f"reading logs of {container}", error) from None
        return raw.decode("utf-8", errors="replace")

    def follow_logs(self, container: str) -> Iterator[bytes]:
        """The container's stdout and stderr as they are written, from its start until
        it exits (the iterator then ends)."""
        import docker

        try:
            yield from self._client.logs(container, stdout=True, stderr=True, stream=True,
                                         follow=True)
        except docker.errors.NotFound:
            raise ResourceNotFoundError(
                f"There is no container {container} to read logs from.",
                hint="It was removed; recreate the deployment to see new logs.",
            ) from None
        except docker.errors.APIError as error:
            raise self._engine_error(f"reading logs of {container}", error) from None
        except docker.errors.DockerException as error:
            raise TargetError(
                f"Docker is not running: following the logs of {container} lost the engine "
                f"({error}).",
                hint=NOT_RUNNING_HINT,
            ) from None

    def remove_container(self, container: str, *, timeout_s: int = 10) -> bool:
        """Stop and remove ``container``; False when there was none."""
        import docker

        try:
            self._client.stop(container, timeout=timeout_s)
            self._client.remove_container(container, force=True)
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as error:
            if error.status_code == 409:  # removal already in progress
                return True
            raise self._engine_error(f"removing container {container}", error) from None
        return True

    def remove_containers(self, labels: Mapping[str, str], *, timeout_s: int = 10) -> list[str]:
        """Stop and remove every container carrying all of ``labels``; their names."""
        removed = []
        for state in self.list_containers(labels):
            if self.remove_container(state.id, timeout_s=timeout_s):
                removed.append(state.name)
        return removed

    def _engine_error(self, doing: str, error: Exception) -> TargetError:
        explanation = getattr(error, "explanation", None) or str(error)
        return TargetError(
            f"The Docker engine failed {doing}: {explanation}",
            hint="Check `docker info` and the engine's log; retry once it is healthy.",
        )


def split_reference(reference: str) -> tuple[str, str]:
    """``host:port/repo:tag`` -> (``host:port/repo``, ``tag``); the tag defaults to
    ``latest``. A colon before the last slash is a registry port, not a tag."""
    name = reference.split("@", 1)[0]
    head, slash, last = name.rpartition("/")
    repository, colon, tag = last.partition(":")
    return f"{head}{slash}{repository}", (tag if colon else "latest")


def _build_lines(stream: Iterator[dict[str, Any]]) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """Build output as whole lines: the engine splits ``stream`` chunks anywhere."""
    pending = ""
    for chunk in stream:
        text = chunk.get("stream")
        if text is None:
            status = chunk.get("status")
            yield (status.rstrip() if status else None), chunk
            continue
        pending += text
        *complete, pending = pending.split("\n")
        for line in complete:
            if line.strip():
                yield line.rstrip(), {}
    if pending.strip():
        yield pending.rstrip(), {}


def _step_title(number: int, total: int, instruction: str, titles: Sequence[str]) -> str:
    # The engine appends one LABEL step of its own for the build's labels.
    if total in (len(titles), len(titles) + 1) and number <= len(titles):
        return f"step {number}/{total}, {titles[number - 1]}"
    short = instruction.strip()
    return f"step {number}/{total} ({short[:77] + '...' if len(short) > 80 else short})"


def _build_failed(
    reference: str,
    step: str,
    message: str,
    last_lines: Sequence[str],
    log_path: Path | None,
) -> EnvironmentBuildError:
    # The builder repeats the whole RUN command in its message; the step already says it.
    non_zero = _NON_ZERO.match(message.strip())
    cause = f"the command exited with code {non_zero[1]}" if non_zero else message.strip()
    output = "\n".join(f"  {line}" for line in last_lines) or "  (the step printed nothing)"
    where = f"\nFull build log: {log_path}" if log_path else ""
    return EnvironmentBuildError(
        f"Building image {reference} failed at {step}: {cause}.\n"
        f"Output of that step:\n{output}{where}",
        hint="Fix the cause shown above (often a requirement that does not exist or "
        "does not install on the image's Python), then deploy again: finished layers "
        "are reused.",
    )


def _container_state(info: Mapping[str, Any]) -> ContainerState:
    state = info.get("State", {})
    ports: dict[int, int] = {}
    for spec, bindings in (info.get("NetworkSettings", {}).get("Ports") or {}).items():
        for binding in bindings or ():
            if binding.get("HostIp") in (PUBLISH_HOST, "") and binding.get("HostPort"):
                ports[int(spec.split("/")[0])] = int(binding["HostPort"])
    running = bool(state.get("Running"))
    return ContainerState(
        id=info["Id"],
        name=info.get("Name", "").lstrip("/"),
        status=state.get("Status", "unknown"),
        running=running,
        exit_code=None if running else state.get("ExitCode"),
        oom_killed=bool(state.get("OOMKilled")),
        error=state.get("Error", ""),
        labels=dict(info.get("Config", {}).get("Labels") or {}),
        ports=ports,
    )

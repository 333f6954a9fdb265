"""One instance of a docker deployment, as a program the local supervisor keeps running.

The docker target reuses the local target's supervisor unchanged: each instance is this
program, which starts the instance's container through the Engine API (its server port
published on 127.0.0.1 at the instance's port, so the gateway's URL never changes),
copies the container's output into its own (the instance log the supervisor keeps), and
exits when the container does, with its exit code, so a killed or crashed container is
restarted with the supervisor's backoff like a crashed local process. On SIGTERM (the
supervisor stopping the instance) it stops and removes the container first.

Run as ``python -m mlkube.targets.docker.instance --image REF --container NAME
--label KEY=VALUE ... --port PORT --host 127.0.0.1 [--nano-cpus N --memory-bytes N]``;
the container's variables come as JSON in ``MLKUBE_CONTAINER_ENV``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import BinaryIO

from mlkube.entities.container_layout import SERVER_PORT
from mlkube.errors import MlkubeError
from mlkube.targets.docker.containers import CONTAINER_ENV_VARIABLE
from mlkube.targets.docker.engine import PUBLISH_HOST, DockerEngine

#: How long the container may take to stop on SIGTERM before it is killed; below the
#: supervisor's own grace (10 s), so the container is always removed before we exit.
STOP_TIMEOUT_S = 5
_WAIT_SLICE_S = 0.5


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mlkube.targets.docker.instance",
                                     description="Run one docker deployment instance.")
    parser.add_argument("--image", required=True)
    parser.add_argument("--container", required=True, help="the container's name")
    parser.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1")
    parser.add_argument("--host", default=PUBLISH_HOST)
    # The deployment's instance type, as container limits (targets.docker.limits).
    parser.add_argument("--nano-cpus", type=int, default=None, help="CPUs x 10^9")
    parser.add_argument("--memory-bytes", type=int, default=None)
    args = parser.parse_args(list(argv))
    if args.host != PUBLISH_HOST:
        parser.error(f"--host must be {PUBLISH_HOST}: deployments are never published "
                     "on another address")
    return args


def parse_labels(items: Sequence[str]) -> dict[str, str]:
    labels = {}
    for item in items:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise MlkubeError(f"--label {item!r} is not KEY=VALUE.",
                              hint="This program is started by the docker target; "
                              "recreate the deployment.")
        labels[key] = value
    return labels


def run(args: argparse.Namespace, *, environment: dict[str, str], out: BinaryIO) -> int:
    """Run the container until it exits or we are told to stop; the exit code to leave
    with (the container's, or 0 when stopped)."""
    stop = threading.Event()
    signalled = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        signalled.set()
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    engine = DockerEngine.connect()
    # replace: a container of this name can only be ours, left behind when this program
    # was killed before it could remove it; it may hold the port.
    state = engine.run_container(
        args.image, name=args.container, environment=environment,
        labels=parse_labels(args.label), ports=[SERVER_PORT],
        host_ports={SERVER_PORT: args.port}, nano_cpus=args.nano_cpus,
        mem_limit=args.memory_bytes, replace=True)
    _say(out, f"container {state.name} ({state.id[:12]}) of image {args.image} started, "
              f"port {SERVER_PORT} published on {PUBLISH_HOST}:{args.port}")
    copier = threading.Thread(target=_copy_logs, args=(engine, state.id, out, stop),
                              daemon=True)
    copier.start()
    try:
        while not stop.wait(_WAIT_SLICE_S):
            pass
        if signalled.is_set():
            _say(out, f"stopping container {state.name}")
            return 0
        final = engine.container_state(state.id)
        why = " (out of memory)" if final.oom_killed else (
            f" ({final.error})" if final.error else "")
        _say(out, f"container {state.name} exited with code {final.exit_code}{why}")
        return final.exit_code or 1
    finally:
        engine.remove_container(state.id, timeout_s=STOP_TIMEOUT_S)
        engine.close()


def _copy_logs(engine: DockerEngine, container: str, out: BinaryIO,
               ended: threading.Event) -> None:
    """Copy the container's output to ``out`` until the container exits."""
    try:
        for chunk in engine.follow_logs(container):
            out.write(chunk)
            out.flush()
    except MlkubeError as error:
        _say(out, f"lost the container's output: {error.message}")
    except Exception as error:  # the engine went away mid-stream
        _say(out, f"lost the container's output: {error}")
    finally:
        ended.set()


def _say(out: BinaryIO, line: str) -> None:
    out.write(f"--- mlkube: {line}\n".encode())
    out.flush()


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    out = sys.stdout.buffer
    try:
        environment = json.loads(os.environ.get(CONTAINER_ENV_VARIABLE) or "{}")
        code = run(args, environment=environment, out=out)
    except MlkubeError as error:
        # The supervisor restarts us with backoff; readiness reports this log's tail.
        _say(out, f"Error: {error.message}")
        if error.hint:
            _say(out, f"Hint: {error.hint}")
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()

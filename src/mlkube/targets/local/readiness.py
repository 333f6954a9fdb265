"""Waiting for inference-server instances to become ready, by probing, never by sleeping.

Azure ML's local endpoints wait a fixed 15 s. Here each instance's ``GET /ready`` is
polled every ``POLL_SECONDS`` within a budget taken from the deployment's readiness probe
(``initial_delay + period x failure_threshold``, the time Kubernetes would give it). The
wait ends at once, as a failure, when the server says its model or ``init()`` failed
(503 with a cause other than "still loading") or when its process keeps dying; the
failure carries the cause and the last lines of the instance's log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from mlkube.errors import parse_error_body
from mlkube.targets.local.processes import ProgramStatus, read_status, tail_log

POLL_SECONDS = 0.2
#: A process that exited this many times without ever answering is crash-looping.
MAX_EARLY_EXITS = 3
LOG_TAIL_LINES = 25


@dataclass(frozen=True)
class ProbeOutcome:
    """What one readiness answer means: ``ready``, ``loading`` or ``failed`` (with cause)."""

    kind: str
    cause: str | None = None


def classify_readiness(status_code: int, body: bytes) -> ProbeOutcome:
    """Read the inference server's ``GET /ready`` answer (pure)."""
    if status_code == 200:
        return ProbeOutcome("ready")
    parsed = parse_error_body(body)
    message = parsed.message if parsed else body.decode("utf-8", "replace").strip()
    if status_code == 503 and (not message or "still loading" in message.lower()):
        return ProbeOutcome("loading")
    return ProbeOutcome("failed", message or f"GET /ready answered {status_code}")


def classify_process(status: ProgramStatus | None) -> ProbeOutcome:
    """A refused connection is normal while a process starts; a crash loop is a failure."""
    if status is None or status.restarts < MAX_EARLY_EXITS:
        return ProbeOutcome("loading")
    return ProbeOutcome("failed", f"the inference server process exited {status.restarts} "
                                  f"times (last exit code {status.last_exit_code})")


class NotReadyError(Exception):
    """One instance did not become ready: ``cause`` and the tail of its log."""

    def __init__(self, program: str, cause: str, log_tail: str) -> None:
        super().__init__(cause)
        self.program = program
        self.cause = cause
        self.log_tail = log_tail


def wait_until_ready(
    instances: dict[str, str], *, state_dir: Path, logs: dict[str, Path], budget_s: float,
    probe_timeout_s: float, progress: Callable[[str], None],
) -> float:
    """Return the seconds it took every instance (program name → base URL) to be ready;
    raise ``NotReadyError`` for the first one that failed or ran out of budget."""
    started = time.monotonic()
    deadline = started + budget_s
    waiting = dict(instances)
    with httpx.Client(timeout=probe_timeout_s, trust_env=False) as client:
        while waiting:
            statuses = read_status(state_dir)
            for program, url in list(waiting.items()):
                outcome = _probe(client, url)
                if outcome.kind == "unreachable":
                    outcome = classify_process(statuses.get(program))
                if outcome.kind == "ready":
                    del waiting[program]
                    progress(f"instance {program} ready after "
                             f"{time.monotonic() - started:.1f}s")
                elif outcome.kind == "failed":
                    raise NotReadyError(program, outcome.cause or "failed",
                                        tail_log(logs[program], LOG_TAIL_LINES))
            if not waiting:
                break
            if time.monotonic() >= deadline:
                program = next(iter(waiting))
                raise NotReadyError(
                    program,
                    f"not ready within the readiness probe's budget of {budget_s:.0f}s "
                    "(initial_delay + period x failure_threshold)",
                    tail_log(logs[program], LOG_TAIL_LINES))
            time.sleep(POLL_SECONDS)
    return time.monotonic() - started


def _probe(client: httpx.Client, url: str) -> ProbeOutcome:
    try:
        response = client.get(f"{url}/ready")
    except httpx.TransportError:
        return ProbeOutcome("unreachable")
    return classify_readiness(response.status_code, response.content)

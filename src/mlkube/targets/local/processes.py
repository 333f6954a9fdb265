"""The control plane's side of the local supervisor: say which programs should run, start
the supervisor when it is not running, read what it reports, stop it.

Everything goes through files in the endpoint's state folder (see ``supervisor``), so a
later CLI command in another process sees and changes the same running endpoint.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlkube.atomic_files import read_json, write_json_atomic
from mlkube.errors import TargetError
from mlkube.pids import process_alive
from mlkube.targets.local.supervisor import LOG_FILE, PID_FILE, PROGRAMS_FILE, STATUS_FILE


@dataclass(frozen=True)
class ProgramSpec:
    """One process the supervisor keeps running."""

    argv: list[str]
    log: Path
    env: dict[str, str]
    cwd: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "argv": [str(a) for a in self.argv],
            "env": dict(sorted(self.env.items())),
            "cwd": str(self.cwd) if self.cwd else None,
            "log": str(self.log),
        }


@dataclass(frozen=True)
class ProgramStatus:
    name: str
    pid: int | None
    state: str
    restarts: int
    last_exit_code: int | None
    log: Path | None


def set_programs(state_dir: Path, programs: dict[str, ProgramSpec]) -> None:
    """Declare the full set of programs for this endpoint and make sure they run."""
    write_json_atomic(
        state_dir / PROGRAMS_FILE,
        {"programs": {name: spec.to_json() for name, spec in sorted(programs.items())}},
    )
    ensure_supervisor(state_dir)


def supervisor_pid(state_dir: Path) -> int | None:
    """The live supervisor's pid, or None when none runs for this state folder."""
    try:
        pid = int((state_dir / PID_FILE).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if process_alive(pid) else None


def ensure_supervisor(state_dir: Path, *, timeout: float = 10.0) -> int:
    """Start the detached supervisor for ``state_dir`` unless it already runs."""
    pid = supervisor_pid(state_dir)
    if pid is not None:
        return pid
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlkube.targets.local.supervisor", str(state_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the CLI exiting and its terminal closing
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if supervisor_pid(state_dir) == process.pid:
            return process.pid
        if process.poll() is not None:
            break
        time.sleep(0.05)
    tail = tail_log(state_dir / LOG_FILE, 20)
    raise TargetError(
        f"The local supervisor for {state_dir} did not start.\n{tail}",
        hint="Read the log above; check the folder is writable.",
    )


def read_status(state_dir: Path) -> dict[str, ProgramStatus]:
    """What the supervisor last reported for each program (empty when it is not running)."""
    if supervisor_pid(state_dir) is None:
        return {}
    data = read_json(state_dir / STATUS_FILE, default={}) or {}
    return {
        name: ProgramStatus(
            name=name,
            pid=item.get("pid"),
            state=item.get("state", "unknown"),
            restarts=item.get("restarts", 0),
            last_exit_code=item.get("last_exit_code"),
            log=Path(item["log"]) if item.get("log") else None,
        )
        for name, item in data.get("programs", {}).items()
    }


def stop_supervisor(state_dir: Path, *, timeout: float = 20.0) -> None:
    """Stop every program of the endpoint and the supervisor itself."""
    (state_dir / PROGRAMS_FILE).unlink(missing_ok=True)
    pid = supervisor_pid(state_dir)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process_alive(pid):
        time.sleep(0.05)
    if process_alive(pid):
        os.kill(pid, signal.SIGKILL)


def tail_log(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a log file ("" when it does not exist)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


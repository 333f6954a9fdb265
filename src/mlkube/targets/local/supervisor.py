"""A small process supervisor for local endpoints.

A local endpoint must outlive the CLI command that created it, restart an instance that
crashes (with backoff, so a model that dies at start does not spin the CPU), keep each
instance's log, and stop everything when the endpoint is deleted. One supervisor process
runs per endpoint, detached from the terminal; the control plane talks to it only
through files in the endpoint's state folder:

``programs.json`` (written by the control plane, atomically)
    ``{"programs": {name: {"argv": [...], "env": {...}, "cwd": "...", "log": "..."}}}``.
    The supervisor polls it: new programs start, removed ones stop, changed ones restart.
``status.json`` (written by the supervisor, atomically)
    Per program: pid, state (``running`` | ``backoff`` | ``stopped``), restarts, last exit
    code and when it started; and the supervisor's own pid and heartbeat.

Run as ``python -m mlkube.targets.local.supervisor STATE_DIR``.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlkube.atomic_files import read_json, write_json_atomic

PROGRAMS_FILE = "programs.json"
STATUS_FILE = "status.json"
PID_FILE = "supervisor.pid"
LOG_FILE = "supervisor.log"
#: Opens each run of a program in its log (``instance_logs.previous_run`` splits on it).
START_MARKER = "--- mlkube: starting "

POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 10.0
# Backoff doubles from the first to the last value; a program that ran this long
# without exiting is considered healthy again and its backoff resets.
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
HEALTHY_AFTER_SECONDS = 30.0


def spec_hash(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class _Program:
    name: str
    spec: dict[str, Any]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    last_exit_code: int | None = None
    next_start_at: float = 0.0
    failures_in_row: int = 0
    state: str = "starting"
    log_handle: Any = field(default=None, repr=False)

    @property
    def hash(self) -> str:
        return spec_hash(self.spec)


class Supervisor:
    """Keeps the programs of ``programs.json`` running until it is told to stop."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.programs: dict[str, _Program] = {}
        self._programs_mtime: float | None = None
        self._stopping = False

    # --- the loop ---------------------------------------------------------------------

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        (self.state_dir / PID_FILE).write_text(str(os.getpid()))
        try:
            while not self._stopping:
                desired = self._read_desired()
                if desired is None:  # programs.json removed: the endpoint was deleted
                    break
                self._reconcile(desired)
                self._write_status()
                time.sleep(POLL_SECONDS)
        finally:
            for program in self.programs.values():
                self._stop(program)
            self._write_status(stopped=True)
            (self.state_dir / PID_FILE).unlink(missing_ok=True)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stopping = True

    def _read_desired(self) -> dict[str, dict[str, Any]] | None:
        path = self.state_dir / PROGRAMS_FILE
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return None
        if mtime != self._programs_mtime or not hasattr(self, "_desired"):
            data = read_json(path, default=None)
            if data is None:  # half-written files cannot happen (atomic); keep the last good
                return getattr(self, "_desired", {})
            self._desired: dict[str, dict[str, Any]] = data.get("programs", {})
            self._programs_mtime = mtime
        return self._desired

    def _reconcile(self, desired: dict[str, dict[str, Any]]) -> None:
        now = time.monotonic()
        for name in list(self.programs):
            program = self.programs[name]
            if name not in desired or spec_hash(desired[name]) != program.hash:
                self._stop(program)
                del self.programs[name]
        for name, spec in desired.items():
            program = self.programs.setdefault(name, _Program(name=name, spec=spec))
            self._reap(program, now)
            if program.process is None and now >= program.next_start_at:
                self._start(program, now)

    # --- one program ------------------------------------------------------------------

    def _start(self, program: _Program, now: float) -> None:
        spec = program.spec
        log_path = Path(spec["log"])
        log_path.parent.mkdir(parents=True, exist_ok=True)
        if program.log_handle is None:
            program.log_handle = open(log_path, "ab", buffering=0)  # kept open
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        program.log_handle.write(f"{START_MARKER}{program.name} at {stamp}\n".encode())
        env = {**os.environ, **spec.get("env", {})}
        try:
            program.process = subprocess.Popen(
                spec["argv"],
                cwd=spec.get("cwd") or None,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=program.log_handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as error:
            program.log_handle.write(f"--- mlkube: cannot start: {error}\n".encode())
            program.last_exit_code = 127
            self._schedule_restart(program, now)
            return
        program.started_at = now
        program.state = "running"

    def _reap(self, program: _Program, now: float) -> None:
        if program.process is None:
            return
        code = program.process.poll()
        if code is None:
            if now - program.started_at > HEALTHY_AFTER_SECONDS:
                program.failures_in_row = 0
            return
        program.process = None
        program.last_exit_code = code
        program.restarts += 1
        if program.log_handle is not None:
            program.log_handle.write(f"--- mlkube: {program.name} exited with {code}\n".encode())
        self._schedule_restart(program, now)

    def _schedule_restart(self, program: _Program, now: float) -> None:
        delay = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2**program.failures_in_row)
        program.failures_in_row += 1
        program.next_start_at = now + delay
        program.state = "backoff"

    def _stop(self, program: _Program) -> None:
        process = program.process
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                process.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
        program.process = None
        program.state = "stopped"
        if program.log_handle is not None:
            program.log_handle.close()
            program.log_handle = None

    # --- status -----------------------------------------------------------------------

    def _write_status(self, *, stopped: bool = False) -> None:
        programs = {
            name: {
                "pid": p.process.pid if p.process else None,
                "state": p.state,
                "restarts": p.restarts,
                "last_exit_code": p.last_exit_code,
                "log": p.spec.get("log"),
                "spec_hash": p.hash,
            }
            for name, p in self.programs.items()
        }
        write_json_atomic(
            self.state_dir / STATUS_FILE,
            {
                "supervisor_pid": None if stopped else os.getpid(),
                "heartbeat": time.time(),
                "programs": programs,
            },
        )


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        sys.exit("usage: python -m mlkube.targets.local.supervisor STATE_DIR")
    Supervisor(Path(args[0])).run()


if __name__ == "__main__":
    main()

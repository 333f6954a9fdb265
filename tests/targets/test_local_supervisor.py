"""The local supervisor keeps an endpoint's processes running after the CLI exits."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from mlkube.targets.local.processes import (
    ProgramSpec,
    process_alive,
    read_status,
    set_programs,
    stop_supervisor,
    supervisor_pid,
)

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(600)"]
CRASHER = [sys.executable, "-c", "import sys; print('boom', flush=True); sys.exit(3)"]


def wait_for(predicate, timeout=10.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


alive = process_alive


@pytest.fixture
def state_dir(tmp_path):
    yield tmp_path
    stop_supervisor(tmp_path)


def running_pid(state_dir: Path, name: str) -> int | None:
    status = read_status(state_dir).get(name)
    return status.pid if status and status.state == "running" else None


def test_killed_instance_is_restarted_by_the_supervisor(state_dir):
    set_programs(state_dir, {"blue-0": ProgramSpec(SLEEPER, state_dir / "blue-0.log", {})})
    first = wait_for(lambda: running_pid(state_dir, "blue-0"))
    log = state_dir / "blue-0.log"
    wait_for(lambda: "up" in log.read_text())
    os.kill(first, 9)
    second = wait_for(lambda: (p := running_pid(state_dir, "blue-0")) and p != first and p)
    assert alive(second)
    assert read_status(state_dir)["blue-0"].restarts == 1
    wait_for(lambda: log.read_text().count("up") == 2)
    assert "exited with -9" in log.read_text()


def test_crash_looping_instance_backs_off_and_keeps_its_exit_code(state_dir):
    set_programs(state_dir, {"bad-0": ProgramSpec(CRASHER, state_dir / "bad-0.log", {})})
    status = wait_for(lambda: (s := read_status(state_dir).get("bad-0")) and s.restarts >= 2 and s)
    assert status.last_exit_code == 3
    time.sleep(1.5)
    # 0.5 s, 1 s, 2 s, 4 s ...: a crash loop does not spin.
    assert read_status(state_dir)["bad-0"].restarts <= 4


def test_removed_program_stops_and_stop_supervisor_ends_everything(state_dir):
    set_programs(state_dir, {
        "a": ProgramSpec(SLEEPER, state_dir / "a.log", {}),
        "b": ProgramSpec(SLEEPER, state_dir / "b.log", {}),
    })
    pid_a = wait_for(lambda: running_pid(state_dir, "a"))
    pid_b = wait_for(lambda: running_pid(state_dir, "b"))
    set_programs(state_dir, {"b": ProgramSpec(SLEEPER, state_dir / "b.log", {})})
    wait_for(lambda: not alive(pid_a))
    assert alive(pid_b)
    sup = supervisor_pid(state_dir)
    stop_supervisor(state_dir)
    wait_for(lambda: not alive(pid_b))
    assert supervisor_pid(state_dir) is None and not alive(sup)


def test_changed_program_spec_restarts_it_with_the_new_environment(state_dir):
    script = "import os,time; print('color', os.environ['COLOR'], flush=True); time.sleep(600)"
    argv = [sys.executable, "-c", script]
    log = state_dir / "p.log"
    set_programs(state_dir, {"p": ProgramSpec(argv, log, {"COLOR": "blue"})})
    first = wait_for(lambda: running_pid(state_dir, "p"))
    set_programs(state_dir, {"p": ProgramSpec(argv, log, {"COLOR": "green"})})
    wait_for(lambda: (p := running_pid(state_dir, "p")) and p != first)
    wait_for(lambda: "color green" in log.read_text())
    assert not alive(first)

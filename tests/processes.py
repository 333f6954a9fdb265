"""Stopping what tests started: a process (politely, then for good), and every local
endpoint a workspace still runs (the last resort after a failed test)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mlkube.targets.local.processes import stop_supervisor


def stop_process(process: subprocess.Popen[bytes], *, timeout: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop_leftover_endpoints(workspace: Path) -> None:
    """Stop the supervisor (and so every process) of each local endpoint in ``workspace``."""
    for state_dir in sorted((workspace / "endpoints").glob("*")):
        stop_supervisor(state_dir)

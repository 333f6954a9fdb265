"""Drive a server with Debian's `wrk`, pinned to its own core, and read its summary.

`post.lua` prints one JSON line at the end of a run; this module runs wrk and turns that
line into requests/s and latency percentiles.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import orjson

LUA_SCRIPT = Path(__file__).resolve().parent / "post.lua"
INSTALL_HINT = "install it with: apt-get install -y wrk (Debian/Ubuntu)"


@dataclass(frozen=True)
class LoadResult:
    """One wrk run: throughput, latency percentiles (ms) and every kind of failure."""

    connections: int
    seconds: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    non_2xx: int
    timeouts: int
    # Share of one core the server's process tree used during the run (1.0 = all of it),
    # and requests per CPU-second it used: how efficient it is, whatever else ran.
    server_cpu: float | None = None
    requests_per_cpu_s: float | None = None
    # wrk's own "Latency Distribution" lines (50/75/90/99 %), as it printed them.
    latency_distribution: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def require_wrk() -> str:
    """wrk's path; without it a benchmark cannot run, so the script stops, saying how
    to install it (a message, not a traceback)."""
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit(f"Error: `wrk` is not installed; {INSTALL_HINT}")
    return path


def run_wrk(url: str, *, connections: int, seconds: float, core: int,
            body_file: Path | None, method: str = "POST",
            content_type: str = "application/json",
            authorization: str | None = None) -> LoadResult:
    """One wrk run of ``seconds`` against ``url`` (which must be on 127.0.0.1), with an
    ``Authorization`` header on every request when given (passed in the environment, so
    the key never shows in a process list)."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the benchmark only sends traffic to 127.0.0.1, not {url}")
    env = dict(os.environ, BENCH_METHOD=method, BENCH_CONTENT_TYPE=content_type,
               BENCH_BODY_FILE=str(body_file) if body_file else "",
               BENCH_AUTHORIZATION=authorization or "")
    # One thread: wrk has one core to itself, and more threads would only contend for it.
    argv = ["taskset", "-c", str(core), require_wrk(), "-t1", f"-c{connections}",
            f"-d{max(1, round(seconds))}s", "--timeout", "10s", "--latency",
            "-s", str(LUA_SCRIPT), url]
    completed = subprocess.run(argv, env=env, capture_output=True, text=True,
                               timeout=seconds + 60)
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            result = _parse(orjson.loads(line.removeprefix("BENCH_JSON ")), connections)
            return replace(result, latency_distribution=_distribution(completed.stdout))
    raise RuntimeError(f"wrk printed no summary (exit {completed.returncode}): "
                       f"{completed.stdout[-500:]} {completed.stderr[-500:]}")


def _parse(summary: dict, connections: int) -> LoadResult:
    seconds = summary["duration_us"] / 1e6
    errors = (summary["connect_errors"] + summary["read_errors"]
              + summary["write_errors"] + summary["timeouts"])
    return LoadResult(
        connections=connections,
        seconds=round(seconds, 3),
        requests=summary["requests"],
        rps=summary["requests"] / seconds if seconds else 0.0,
        p50_ms=summary["p50_us"] / 1000,
        p90_ms=summary["p90_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        max_ms=summary["max_us"] / 1000,
        errors=errors,
        non_2xx=summary["status_errors"],
        timeouts=summary["timeouts"],
    )


def _distribution(stdout: str) -> str:
    """wrk's "Latency Distribution" block: its heading and the percentile lines under it."""
    lines = stdout.splitlines()
    for start, line in enumerate(lines):
        if line.strip().startswith("Latency Distribution"):
            block = [line]
            for following in lines[start + 1:]:
                if "%" not in following:
                    break
                block.append(following)
            return "\n".join(block)
    return ""

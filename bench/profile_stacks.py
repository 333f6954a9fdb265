"""Where a server spends its time under load: py-spy's collapsed stacks, summed per frame.

Parsing is pure; `record` runs py-spy on the load core while wrk drives the server.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path


def record(py_spy: Path, *, pid: int, seconds: float, core: int, output: Path,
           gil_only: bool) -> None:
    """Sample ``pid`` and its children (idle threads left out) into collapsed stacks.

    With ``gil_only`` only the thread holding the GIL is sampled: where Python time goes,
    without threads that merely wait for the GIL (but also without native code, such as
    LightGBM's predict, that runs with the GIL released).
    """
    argv = ["taskset", "-c", str(core), str(py_spy), "record", "--pid", str(pid),
            "--subprocesses", "--duration", str(max(1, round(seconds))), "--rate", "250",
            "--nolineno", "--format", "raw", "--output", str(output), "--nonblocking"]
    if gil_only:
        argv.append("--gil")
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    if completed.returncode != 0 or not output.exists():
        raise RuntimeError(f"py-spy failed: {(completed.stderr or completed.stdout)[-400:]}")


def _short(frame: str) -> str:
    # "predict (/long/path/site-packages/lightgbm/basic.py)" -> "predict (lightgbm/basic.py)"
    name, _, location = frame.partition(" (")
    parts = location.rstrip(")").split("/")
    if "mlkube" in parts:
        parts = parts[parts.index("mlkube"):]
    return f"{name} ({'/'.join(parts[-3:] if parts[0] == 'mlkube' else parts[-2:])})" \
        if location else name


def summarize(collapsed: str, *, top_self: int = 15) -> tuple[int, list[dict]]:
    """Total samples and the frames that matter: the largest self shares (%), and every
    frame of mlkube's own server code with at least 1 % inclusive.

    Scaffolding frames (the CLI, the event loop's run) hold nearly every sample and say
    nothing, so frames are picked by self time, not by inclusive time.
    """
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        # Drop the "process ..." / "thread ..." pseudo-frames py-spy puts first.
        frames = [_short(f) for f in stack.split(";")
                  if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        self_time[frames[-1]] += count
    if not total:
        return 0, []
    chosen = [f for f, _ in self_time.most_common(top_self)]
    chosen += [f for f, n in inclusive.items()
               if "(mlkube/server/" in f and total / 100 <= n < total / 2 and f not in chosen
               and "cli" not in f]
    rows = [{"frame": f, "inclusive": 100 * inclusive[f] / total,
             "self": 100 * self_time[f] / total} for f in chosen]
    rows.sort(key=lambda r: (-r["inclusive"], -r["self"]))
    return total, rows

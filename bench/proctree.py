"""Server processes for the benchmark: start pinned to a core, find the whole process
tree, measure its memory, and always stop it.

Each server runs in its own session (process group), so one signal reaches its workers
too; a registry of what was started lets an interrupted run clean up after itself.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_STARTED: list[subprocess.Popen] = []


@dataclass
class Server:
    """A started server process and where its log goes."""

    process: subprocess.Popen
    started_at: float
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid


def start_pinned(argv: Sequence[str], *, core: int, env: Mapping[str, str], cwd: Path,
                 log_path: Path) -> Server:
    """Start ``argv`` on one CPU core (children inherit the affinity) in a new session."""
    log = open(log_path, "wb")  # handed to the child, closed with it
    started_at = time.monotonic()
    process = subprocess.Popen(
        ["taskset", "-c", str(core), *argv],
        env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True,
    )
    log.close()
    _STARTED.append(process)
    return Server(process=process, started_at=started_at, log_path=log_path)


def tree_pids(root: int) -> list[int]:
    """The root and all its descendants, plus anything left in its process group."""
    parents: dict[int, int] = {}
    groups: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after the last ')'.
        fields = stat[stat.rindex(")") + 2:].split()
        parents[int(entry.name)] = int(fields[1])
        groups[int(entry.name)] = int(fields[2])
    found = {root} if root in parents else set()
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in found and pid not in found:
                found.add(pid)
                changed = True
    found.update(pid for pid, group in groups.items() if group == root)
    return sorted(found)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system) used so far by the live processes of the tree.

    Read before and after a load run, it tells how much of its core the server really got:
    on a machine shared with other work, requests per server CPU-second is the figure
    that contention distorts least.
    """
    ticks = 0
    for pid in tree_pids(root):
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / _CLOCK_TICKS


def tree_context_switches(root: int) -> int:
    """Context switches (voluntary + involuntary) so far, over every thread of the tree.

    Per request, a figure of how often the server's threads hand the core to each other
    (or lose it): it does not depend on how fast the machine is, and contention from
    other work adds only the involuntary part.
    """
    switches = 0
    for pid in tree_pids(root):
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(OSError, ValueError):
                    for line in (task / "status").read_text().splitlines():
                        if line.startswith(("voluntary_ctxt_switches:",
                                            "nonvoluntary_ctxt_switches:")):
                            switches += int(line.split()[1])
    return switches


def _status_kib(pid: int, field: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _pss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def tree_memory_mib(root: int) -> dict[str, float]:
    """RSS summed over the tree (counts shared pages once per process) and PSS (shares
    them out, so it adds up to what the tree really costs), in MiB."""
    pids = [p for p in tree_pids(root) if not _is_gone(p)]
    rss = sum(_status_kib(p, "VmRSS") for p in pids)
    pss = sum(_pss_kib(p) for p in pids)
    return {"rss_mib": rss / 1024, "pss_mib": pss / 1024, "processes": len(pids)}


def _is_gone(pid: int) -> bool:
    # Zombies (exited, not yet reaped) hold no memory and must not count as alive.
    with contextlib.suppress(OSError):
        return "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    return True


def stop(server: Server, *, grace_s: float = 10.0, root_first: bool = False) -> None:
    """SIGTERM the server's group and descendants, SIGKILL what is left after the grace.

    With ``root_first`` the root alone is asked first and given the grace to stop its
    own children in order (a driver shutting Ray down, a client deleting its endpoint);
    the tree read before that signal is what gets SIGKILLed after, so children the
    root's exit reparented to init are not missed.
    """
    pids = tree_pids(server.pid)
    if root_first:
        with contextlib.suppress(ProcessLookupError):
            server.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=grace_s)
        pids = sorted(set(pids) | set(tree_pids(server.pid)))
    _signal_all(server.pid, pids, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None and not _alive(pids):
            break
        time.sleep(0.05)
    _signal_all(server.pid, tree_pids(server.pid) + pids, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.process.wait(timeout=5)
    if server.process in _STARTED:
        _STARTED.remove(server.process)


def _signal_all(group: int, pids: Sequence[int], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _alive(pids: Sequence[int]) -> bool:
    return any(Path(f"/proc/{p}").exists() and not _is_gone(p) for p in pids)


def stop_all_started() -> None:
    """Stop every server this run started and has not stopped yet (exit, Ctrl-C)."""
    for process in list(_STARTED):
        stop(Server(process=process, started_at=0.0, log_path=Path(os.devnull)), grace_s=3.0)


atexit.register(stop_all_started)


def post(port: int, path: str, body: bytes | None, *, content_type: str = "application/json",
         timeout_s: float = 10.0, headers: Mapping[str, str] | None = None
         ) -> tuple[int, bytes]:
    """One request to 127.0.0.1 (the only address the benchmark talks to)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        headers = {**({"Content-Type": content_type} if body is not None else {}),
                   **(headers or {})}
        connection.request("POST" if body is not None else "GET", path, body=body,
                           headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class AnswerCheckFailed(Exception):
    """The server answered, but not with the right predictions, or never answered."""


def wait_for_answer(server: Server, *, port: int, path: str, body: bytes,
                    is_right: Callable[[int, bytes], bool], deadline_s: float,
                    headers: Mapping[str, str] | None = None) -> float:
    """Poll until the first right answer; returns seconds since the process started.

    A wrong 200 answer fails at once (a wrong server gets no number); refusals and
    not-ready statuses are retried until the deadline or the process exits.
    """
    deadline = server.started_at + deadline_s
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AnswerCheckFailed(
                f"exited with code {server.process.returncode} before answering "
                f"(see {server.log_path})")
        try:
            status, answer = post(port, path, body, timeout_s=5.0, headers=headers)
        except (OSError, http.client.HTTPException) as error:
            last = f"{type(error).__name__}: {error}"
        else:
            if status == 200:
                if is_right(status, answer):
                    return time.monotonic() - server.started_at
                raise AnswerCheckFailed(f"wrong answer: {answer[:300]!r}")
            last = f"HTTP {status}: {answer[:300]!r}"
        time.sleep(0.02)
    raise AnswerCheckFailed(f"no right answer within {deadline_s:.0f} s (last: {last})")


def wait_for_file(server: Server, path: Path, *, deadline_s: float) -> bytes:
    """The contents of ``path`` once the server has written it (it renames it into place
    whole); fails if the server exits first or the deadline passes."""
    deadline = server.started_at + deadline_s
    while time.monotonic() < deadline:
        if path.exists():
            return path.read_bytes()
        if server.process.poll() is not None:
            raise AnswerCheckFailed(
                f"exited with code {server.process.returncode} before it was ready "
                f"(see {server.log_path})")
        time.sleep(0.05)
    raise AnswerCheckFailed(f"not ready within {deadline_s:.0f} s (no {path.name})")

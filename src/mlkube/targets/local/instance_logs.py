"""Reading a deployment's logs on this machine: ``online-deployment get-logs``.

Every instance has one log file, kept by the supervisor, to which each run of its
program is appended, opened by the supervisor's ``START_MARKER`` line; what prepared the
deployment is its ``storage-initializer.log``. The same files whether the instance was a
process or a container (whose output its instance program copies out).
"""

from __future__ import annotations

import re
from pathlib import Path

from mlkube.errors import ValidationError
from mlkube.targets.base import ContainerType
from mlkube.targets.local.processes import tail_log
from mlkube.targets.local.state import STORAGE_INITIALIZER_LOG, DeploymentRecord, EndpointFolder
from mlkube.targets.local.supervisor import START_MARKER


def deployment_logs(folder: EndpointFolder, record: DeploymentRecord, *, lines: int | None,
                    container_type: ContainerType, previous: bool) -> str:
    """The last ``lines`` of each instance's log (or of its run before the last restart,
    with ``previous``), headed by the instance's name when there are several."""
    name = record.name
    logs_dir = folder.deployment_logs_dir(name)
    if container_type == "storage-initializer":
        return _tail(logs_dir / STORAGE_INITIALIZER_LOG, lines)
    if container_type != "inference-server":
        raise ValidationError(
            f"container_type {container_type!r} is not a log source.",
            hint="Use 'inference-server' or 'storage-initializer'.")
    programs = [i.program for i in (record.instances or record.pending)]
    if not programs:  # failed: show the generation that was tried last
        prefix = f"{name}-{record.generation}-"
        programs = sorted(p.stem for p in logs_dir.glob(f"{prefix}*.log"))
    parts = []
    for program in programs:
        log = folder.instance_log(name, program)
        text = (previous_run(_tail(log, None), lines) if previous else _tail(log, lines))
        parts.append(text if len(programs) == 1 else f"==> {program} <==\n{text}")
    return "\n".join(parts)


def previous_run(text: str, lines: int | None) -> str:
    """The part of an instance's log written by its run before the last restart: the
    supervisor appends every run to one file, each opened by a ``START_MARKER`` line."""
    starts = [m.start() for m in re.finditer(f"^{re.escape(START_MARKER)}", text, re.MULTILINE)]
    if len(starts) < 2:
        return ""
    run = text[starts[-2]:starts[-1]].splitlines()
    return "\n".join(run[-lines:] if lines else run) + "\n"


def _tail(path: Path, lines: int | None) -> str:
    if lines is None:
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
    return tail_log(path, lines)

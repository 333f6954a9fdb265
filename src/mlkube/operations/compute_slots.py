"""How many jobs of one compute run at once: ``max_instances`` slots, one flock each.

An ``AmlCompute`` runs its command jobs on this machine; each job's runner holds one of
the compute's slots (a lock file under the workspace's ``locks`` folder) from before it
prepares anything until its command ends. A runner that finds every slot taken waits,
and its job stays Queued, as on a busy Azure ML cluster. The kernel drops a flock when
its holder dies, so a killed runner never keeps a slot.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

POLL_SECONDS = 0.25


def slot_files(locks_dir: Path, compute: str, max_instances: int) -> list[Path]:
    """The lock files of ``compute``'s slots (pure)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", compute)
    return [locks_dir / f"compute-{safe}.slot-{index}.lock" for index in range(max_instances)]


@contextlib.contextmanager
def compute_slot(locks_dir: Path, compute: str, max_instances: int, *,
                 on_wait: Callable[[], None]) -> Iterator[int]:
    """Hold one of ``compute``'s slots for the ``with`` block; ``on_wait`` is called once
    if every slot is taken when the job arrives. Yields the slot's index."""
    locks_dir.mkdir(parents=True, exist_ok=True)
    files = slot_files(locks_dir, compute, max_instances)
    waited = False
    while True:
        for index, path in enumerate(files):
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                continue
            try:
                yield index
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
                os.close(descriptor)
            return
        if not waited:
            on_wait()
            waited = True
        time.sleep(POLL_SECONDS)

"""Workspace-wide mutual exclusion, for the few writes MLflow cannot make atomic for us.

Auto-incrementing record versions, unique job names and the first creation of the
database tables are read-then-write sequences. Processes on one machine (the embedded
SQLite workspace) serialise them with ``flock`` on a file in the workspace folder; a
PostgreSQL workspace shared by many machines uses a session-level advisory lock, so the
guarantee holds across machines. Both are released by the operating system or the
server when the holder dies, so a crash never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlkube.errors import MlkubeError

LOCK_TIMEOUT_S = 60.0


def _lock_id(key: str) -> int:
    """A stable signed 64-bit id for ``key`` (what pg_advisory_lock takes)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def file_lock(folder: Path, key: str, *, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold an exclusive lock named ``key`` among processes sharing ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise MlkubeError(
                        f"Timed out after {timeout:.0f}s waiting for the workspace lock "
                        f"{key!r} ({path}).",
                        hint="Another mlkube process holds it; wait for it to finish or "
                        "stop it.",
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def advisory_lock(engine: Any, key: str) -> Iterator[None]:
    """Hold a PostgreSQL session advisory lock named ``key`` (``engine``: SQLAlchemy)."""
    import sqlalchemy

    lock_id = _lock_id(key)
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text("select pg_advisory_lock(:id)"), {"id": lock_id})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(sqlalchemy.text("select pg_advisory_unlock(:id)"),
                               {"id": lock_id})
            connection.commit()

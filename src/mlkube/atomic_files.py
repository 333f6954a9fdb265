"""Writes that never leave a half-written file behind.

State that must not be lost (endpoint records, keys, desired process lists) is written to
a temporary file in the same folder, flushed to disk and renamed over the old one, so a
reader sees the old content or the new, never a mix, even if the writer crashes.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_bytes_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically; ``mode`` applies from the first byte
    (a key file is never readable by others, not even briefly)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data: Any, *, mode: int = 0o644) -> None:
    write_bytes_atomic(path, json.dumps(data, indent=2, sort_keys=True).encode(), mode=mode)


def read_json(path: Path, *, default: Any = None) -> Any:
    """The JSON content of ``path``, or ``default`` when it does not exist or is unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return default

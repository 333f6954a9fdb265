"""Files the gateway re-reads while it runs: its config and its keys.

The gateway polls each file about once a second and compares *content*, not mtime:
on Kubernetes a mounted ConfigMap or Secret is updated by swapping a symlink
(``..data``), which an mtime check on the visible path can miss, and a file rewritten
within the same second keeps its mtime on some filesystems. The files are small, so
reading them is cheaper than reasoning about timestamps.

A change that does not parse never takes the gateway down: it keeps serving the last
good version and logs why the new one was refused (once per distinct content).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from mlkube.errors import MlkubeError, RequiredLocalArtifactsNotFoundError

T = TypeVar("T")
log = logging.getLogger("mlkube.gateway")


class WatchedFile(Generic[T]):
    """One file, parsed by ``parse(text, source=...)``, with its last good value."""

    def __init__(self, path: str | os.PathLike[str], parse: Callable[..., T], *,
                 name: str) -> None:
        self.path = Path(path)
        self.name = name
        self._parse = parse
        self._last_text: str | None = None

    def load(self) -> T:
        """The first load: a missing or bad file is an error the caller reports."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RequiredLocalArtifactsNotFoundError(
                f"The gateway's {self.name} file {self.path} does not exist.",
                hint=f"Pass the {self.name} file the target wrote (--{self.name} PATH).",
            ) from None
        except OSError as error:
            raise RequiredLocalArtifactsNotFoundError(
                f"The gateway's {self.name} file {self.path} cannot be read: {error.strerror}.",
                hint="Check the path and its permissions.",
            ) from None
        value = self._parse(text, source=f"{self.name} file {self.path}")
        self._last_text = text
        return value

    def poll(self) -> tuple[bool, T | None]:
        """(changed, new value): a value only when the content changed and parses."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as error:
            # Mid-swap or deleted: keep the last good value, say so once.
            if self._last_text != "":
                log.warning("Keeping the current %s: %s cannot be read (%s).",
                            self.name, self.path, error.strerror or error)
                self._last_text = ""
            return False, None
        if text == self._last_text:
            return False, None
        self._last_text = text
        try:
            value = self._parse(text, source=f"{self.name} file {self.path}")
        except MlkubeError as error:
            log.error("Keeping the current %s: the new one is invalid: %s", self.name, error)
            return True, None
        return True, value


def warn_if_readable_by_others(path: str | os.PathLike[str]) -> None:
    """Say so when users other than the gateway's own can read the keys file: any
    permission for others, or for a group the gateway does not run as.

    A group the gateway runs as is not a leak: a Kubernetes Secret is mounted owned by
    root, mode 0440, group the pod's ``fsGroup``, which is the gateway's own group, and is
    readable by nobody else (telling that pod to chmod 600 a read-only mount would be
    advice nobody can follow)."""
    try:
        info = os.stat(path)
    except OSError:
        return
    mode = info.st_mode
    if mode & stat.S_IRWXO or (mode & stat.S_IRWXG and info.st_gid != os.getgid()):
        log.warning("The keys file %s is readable by other users (mode %o); "
                    "chmod 600 it.", path, stat.S_IMODE(mode))

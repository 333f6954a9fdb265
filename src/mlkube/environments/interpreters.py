"""Finding a Python interpreter of the version an environment asks for.

A virtualenv is made from an interpreter already on this machine: mlkube never downloads
Python. It looks on PATH (``python3.11``, ``python3``) and in pyenv's versions folder, and
asks each candidate its version, because a pyenv shim on PATH may exist for a version that
is not active and then fails when run.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from mlkube.errors import EnvironmentResolutionError

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def minor_version(version: str) -> str:
    """"3.11.7" → "3.11"; raises on anything that is not a Python version."""
    match = _VERSION.match(version.strip())
    if not match:
        raise EnvironmentResolutionError(
            f"{version!r} is not a Python version.",
            hint="Write the Python version as MAJOR.MINOR, e.g. 3.11.",
        )
    return f"{match[1]}.{match[2]}"


def current_minor_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def find_interpreter(version: str | None, *, allow_current: bool = False) -> tuple[Path, bool]:
    """An interpreter of ``version`` (any patch level of its minor version) and whether
    it is a stand-in: with ``allow_current``, the running Python replaces a missing one.

    ``None`` means the Python mlkube runs on.
    """
    if version is None:
        return Path(sys.executable), False
    wanted = minor_version(version)
    if wanted == current_minor_version():
        return Path(sys.executable), False
    for candidate in _candidates(wanted):
        if _version_of(str(candidate)) == wanted:
            return candidate, False
    if allow_current:
        return Path(sys.executable), True
    raise EnvironmentResolutionError(
        f"The environment needs Python {wanted}, and no Python {wanted} interpreter was "
        f"found on PATH or in pyenv (this machine runs Python {current_minor_version()}).",
        hint=f"Install Python {wanted} (e.g. 'pyenv install {wanted}' or your OS package "
        f"python{wanted}), or allow the current Python "
        f"(--allow-other-python / allow_other_python=True) and accept the risk.",
    )


#: The oldest Python mlkube's inference server (installed into every environment) runs on.
MIN_SERVER_PYTHON = (3, 10)


def nearest_python(version: str | None) -> str:
    """``version`` (major.minor) when an interpreter of it is here and mlkube's server
    runs on it, else the Python mlkube runs on: what an environment naming an old Python
    (Azure's 3.7, 3.8) gets."""
    if version is None:
        return current_minor_version()
    major, minor = (int(part) for part in minor_version(version).split("."))
    if (major, minor) < MIN_SERVER_PYTHON:
        return current_minor_version()
    try:
        find_interpreter(version)
    except EnvironmentResolutionError:
        return current_minor_version()
    return minor_version(version)


def _candidates(wanted: str) -> Iterator[Path]:
    # pyenv's shims are skipped: each run costs a second and fails for inactive versions;
    # the interpreters behind them are found in pyenv's versions folder directly.
    on_path = [shutil.which(name) for name in (f"python{wanted}", "python3", "python")]
    direct = [Path(p) for p in on_path if p and "shims" not in Path(p).parts]
    yield from direct[:1]
    for root in _pyenv_version_dirs():
        if root.name == wanted or root.name.startswith(f"{wanted}."):
            yield from _pythons_in(root / "bin")
    yield from direct[1:]


def _pythons_in(directory: Path) -> Iterator[Path]:
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return
    for name in names:
        if re.fullmatch(r"python3(\.\d+)?", name):
            yield directory / name


def _pyenv_version_dirs() -> list[Path]:
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    try:
        return sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return []


@functools.lru_cache(maxsize=64)
def _version_of(executable: str) -> str | None:
    """The minor version an executable reports, None when it does not run."""
    try:
        result = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=10, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    output = result.stdout.strip()
    return output if result.returncode == 0 and _VERSION.match(output) else None

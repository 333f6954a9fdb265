"""The peers' virtualenvs under bench/.work/venvs: one per requirements file, created
with uv and rebuilt when the pinned requirements change."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PYTHON_VERSION = "3.11"


class VenvInstallFailed(Exception):
    """uv could not create or fill a virtualenv; the message holds uv's last words."""


def _uv(repo: Path) -> str:
    local = repo / ".venv" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if not found:
        raise VenvInstallFailed("uv not found; run `make install` (it installs uv into .venv)")
    return found


def ensure_venv(name: str, *, repo: Path, venvs: Path) -> Path:
    """The virtualenv for ``bench/requirements-{name}.txt``, created if missing or stale."""
    requirements = BENCH / f"requirements-{name}.txt"
    venv = venvs / name
    stamp = venv / ".requirements-sha256"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return venv
    uv = _uv(repo)
    log = venvs / f"install-{name}.log"
    venvs.mkdir(parents=True, exist_ok=True)
    print(f"  installing {name} peer into {venv} (log: {log})", flush=True)
    with open(log, "w") as out:
        for argv in ([uv, "venv", "-q", "--clear", "--python", PYTHON_VERSION, str(venv)],
                     [uv, "pip", "install", "--python", str(venv / "bin" / "python"),
                      "-r", str(requirements)]):
            code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=1800).returncode
            if code != 0:
                tail = log.read_text().strip().splitlines()[-3:]
                raise VenvInstallFailed(f"`{' '.join(argv[:3])}` failed: {' / '.join(tail)}")
    stamp.write_text(digest)
    return venv


def installed_version(venv_python: Path, distribution: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    completed = subprocess.run([str(venv_python), "-c", code], capture_output=True, text=True,
                               timeout=60)
    return completed.stdout.strip() or "?"

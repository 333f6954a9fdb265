"""The virtualenv cache: a resolved environment, installed once, reused instantly.

Each environment is built once per machine, keyed by ``ResolvedEnvironment.content_hash``
under ``envs`` in mlkube's cache folder (``$MLKUBE_CACHE_DIR/envs``, else
``~/.cache/mlkube/envs``; a workspace may pass its own). Layout::

    <cache>/<hash>             symlink to the finished build, created by an atomic rename
    <cache>/.builds/<hash>-<id> the virtualenv itself (never moved: venvs are not relocatable)
    <cache>/.<hash>.lock       flock held while building, so two processes build once

A build happens in a fresh ``.builds`` folder; only when the install succeeded does the
symlink appear, so a reader sees a complete environment or none. A failed or killed build
leaves nothing that is ever used, and its folder is removed (at once, or by the next
build of that hash). uv is used when available (``uv venv`` + ``uv pip install``), else
``python -m venv`` + pip.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from mlkube.environments import server_package
from mlkube.environments.interpreters import current_minor_version, find_interpreter
from mlkube.environments.resolved import ResolvedEnvironment
from mlkube.errors import EnvironmentBuildError

#: Receives one line per step: "resolving ...", "creating venv", "installing N packages",
#: "done in Xs".
Progress = Callable[[str], None]

MARKER_FILE = "mlkube-env.json"
REQUIREMENTS_FILE = "mlkube-requirements.txt"
_TAIL_LINES = 20
# uv's and pip's per-package lines ("Downloading torch (750.0MiB)", "Collecting numpy").
_PROGRESS_LINE = re.compile(r"^(Resolved|Downloading|Downloaded|Prepared|Installed|"
                            r"Collecting|Installing collected packages|Successfully "
                            r"installed)\b")
_log = logging.getLogger("mlkube.environments")

# pip's settings with the uv variable that means the same; uv reads only its own.
_PIP_TO_UV = {
    "PIP_INDEX_URL": "UV_INDEX_URL",
    "PIP_EXTRA_INDEX_URL": "UV_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS": "UV_FIND_LINKS",
    "PIP_TRUSTED_HOST": "UV_INSECURE_HOST",
    "PIP_CERT": "SSL_CERT_FILE",
}


def default_cache_dir() -> Path:
    """``envs`` in mlkube's cache folder (``MLKUBE_CACHE_DIR``, else ``~/.cache/mlkube``)."""
    return server_package.default_cache_dir() / "envs"


def cached_python(
    resolved: ResolvedEnvironment, *, cache_dir: str | os.PathLike[str] | None = None
) -> Path | None:
    """The python of the already-built environment, None when it is not in the cache."""
    link = Path(cache_dir or default_cache_dir()) / resolved.content_hash
    python = link / "bin" / "python"
    # exists() follows the symlinks: a venv whose base interpreter was removed is not usable.
    if link.is_symlink() and (link / MARKER_FILE).is_file() and python.exists():
        return python
    return None


def materialize(
    resolved: ResolvedEnvironment,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    allow_other_python: bool = False,
    installer: str | None = None,
) -> Path:
    """The python executable of a virtualenv with ``resolved`` installed, built if needed.

    ``allow_other_python`` lets the running Python stand in (with a warning) when no
    interpreter of the requested version is on this machine. ``installer`` is "uv" or
    "pip" (default: ``MLKUBE_INSTALLER``, else uv when available).
    """
    report = progress or (lambda _message: None)
    started = time.monotonic()
    cache = Path(cache_dir or default_cache_dir()).expanduser()
    key = resolved.content_hash
    python = cached_python(resolved, cache_dir=cache)
    if python is not None:
        report(f"using cached environment {key}")
        report(f"done in {time.monotonic() - started:.2f}s")
        return python
    cache.mkdir(parents=True, exist_ok=True)
    with _build_lock(cache / f".{key}.lock", report):
        python = cached_python(resolved, cache_dir=cache)
        if python is not None:  # another process built it while this one waited
            report(f"using environment {key}, built by another process")
            report(f"done in {time.monotonic() - started:.2f}s")
            return python
        _remove_leftovers(cache, key)
        report(f"building environment {key}")
        build_dir = _build(resolved, cache=cache, report=report,
                           allow_other_python=allow_other_python,
                           installer=installer or _choose_installer())
        _publish(cache / key, build_dir)
    report(f"done in {time.monotonic() - started:.1f}s")
    return cache / key / "bin" / "python"


def installer_environment(environ: Mapping[str, str], *, installer: str) -> dict[str, str]:
    """The environment the installer runs with: the caller's (certificates, proxies,
    ``UV_*``/``PIP_*`` settings), pip's settings translated for uv, and no Python
    downloads (mlkube uses the interpreters on this machine)."""
    env = dict(environ)
    if installer == "uv":
        for pip_name, uv_name in _PIP_TO_UV.items():
            if environ.get(pip_name) and not environ.get(uv_name):
                env[uv_name] = environ[pip_name]
        env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    return env


def _build(
    resolved: ResolvedEnvironment, *, cache: Path, report: Progress, allow_other_python: bool,
    installer: str,
) -> Path:
    key = resolved.content_hash
    report(f"resolving python {resolved.python_version or current_minor_version()}")
    interpreter, stand_in = find_interpreter(resolved.python_version,
                                             allow_current=allow_other_python)
    if stand_in:
        warning = (f"warning: no Python {resolved.python_version} here; using "
                   f"Python {sys.version_info.major}.{sys.version_info.minor} ({interpreter}) "
                   f"as allowed")
        _log.warning(warning)
        report(warning)
    build_dir = cache / ".builds" / f"{key}-{uuid.uuid4().hex[:8]}"
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    env = installer_environment(os.environ, installer=installer)
    try:
        report(f"creating venv ({installer}, {interpreter})")
        _run(_venv_command(installer, interpreter, build_dir), env=env, step="Creating the venv")
        requirements = build_dir / REQUIREMENTS_FILE
        requirements.write_text("".join(f"{line}\n" for line in resolved.requirements))
        packages = [r for r in resolved.requirements if not r.startswith("-")]
        report(f"installing {len(packages)} packages")
        _run(_install_command(installer, build_dir, requirements), env=env,
             step=f"Installing {len(packages)} packages", requirements=packages,
             on_progress=report)
        (build_dir / MARKER_FILE).write_text(json.dumps({
            "content_hash": key,
            "python_version": resolved.python_version,
            "interpreter": str(interpreter),
            "image": resolved.image,
            "requirements": list(resolved.requirements),
            "sources": list(resolved.sources),
            "installer": installer,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }, indent=2))
    except BaseException:
        shutil.rmtree(build_dir, ignore_errors=True)
        raise
    return build_dir


def _publish(link: Path, build_dir: Path) -> None:
    """Make ``link`` point at ``build_dir`` in one atomic rename."""
    staging = link.parent / f".{link.name}.{uuid.uuid4().hex[:8]}.link"
    os.symlink(os.path.relpath(build_dir, link.parent), staging)
    try:
        os.replace(staging, link)
    except OSError:
        staging.unlink(missing_ok=True)
        shutil.rmtree(build_dir, ignore_errors=True)
        raise


def _remove_leftovers(cache: Path, key: str) -> None:
    """Called with the lock held, when ``key`` has no usable environment: whatever is
    there for it is a failed or killed build, or a published one that broke (its base
    interpreter was removed), and is cleared before building again."""
    link = cache / key
    if link.is_symlink():
        link.unlink()
    elif link.exists():
        shutil.rmtree(link, ignore_errors=True)  # not made by this module
    for leftover in (cache / ".builds").glob(f"{key}-*"):
        shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def _build_lock(path: Path, report: Progress) -> Iterator[None]:
    """An exclusive flock; the kernel drops it if the holder dies, so it never goes stale."""
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            report("waiting for another process that is building this environment")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _choose_installer() -> str:
    forced = os.environ.get("MLKUBE_INSTALLER", "").strip().lower()
    if forced in ("uv", "pip"):
        return forced if forced == "pip" or _uv_binary() else "pip"
    return "uv" if _uv_binary() else "pip"


def _uv_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "uv"
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("uv")
    if found:
        return found
    try:
        from uv import find_uv_bin  # the PyPI "uv" package ships the binary

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return None


def _venv_command(installer: str, interpreter: Path, build_dir: Path) -> list[str]:
    if installer == "uv":
        return [_uv_binary() or "uv", "venv", "--quiet", "--no-project", "--python",
                str(interpreter), str(build_dir)]
    return [str(interpreter), "-m", "venv", str(build_dir)]


def _install_command(installer: str, build_dir: Path, requirements: Path) -> list[str]:
    python = str(build_dir / "bin" / "python")
    if installer == "uv":
        # uv skips bytecode by default; without it every server start recompiles MLflow
        # (seconds of CPU per instance), pip compiles at install anyway.
        return [_uv_binary() or "uv", "pip", "install", "--compile-bytecode", "--python",
                python, "-r", str(requirements)]
    return [python, "-m", "pip", "install", "--disable-pip-version-check", "-r",
            str(requirements)]


def installer_progress(line: str) -> str | None:
    """The installer output line worth showing while it works (one per package step, as
    uv and pip print them without a terminal), else None."""
    stripped = line.strip()
    if _PROGRESS_LINE.match(stripped):
        return stripped
    if line.startswith((" + ", " - ")):
        return f"installed {stripped[2:]}" if line.startswith(" + ") else f"removed {stripped[2:]}"
    return None


def _run(
    command: list[str], *, env: dict[str, str], step: str, requirements: list[str] | None = None,
    on_progress: Progress | None = None,
) -> None:
    """Run an installer step; its output streams line by line (a torch install takes
    minutes: each download is reported as it starts), and is kept for the error."""
    lines: list[str] = []
    try:
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True,
                                   stdin=subprocess.DEVNULL, bufsize=1)
    except OSError as error:
        raise EnvironmentBuildError(
            f"{step} failed: cannot run {command[0]} ({error.strerror}).",
            hint="Install uv (pip install uv) or make sure the interpreter has the venv "
            "module (Debian: apt install python3-venv).",
        ) from None
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        shown = installer_progress(line) if on_progress is not None else None
        if shown and on_progress is not None:
            on_progress(shown)
    result = subprocess.CompletedProcess(command, process.wait(), "\n".join(lines), "")
    if result.returncode == 0:
        return
    output = "\n".join(part for part in (result.stdout, result.stderr) if part.strip())
    tail = "\n".join(output.strip().splitlines()[-_TAIL_LINES:])
    culprits = _named_requirements(output, requirements or [])
    if culprits:
        hint = (f"Check {', '.join(culprits)} in the environment's files (a misspelt name, a "
                "version that does not exist, or one without a build for this Python), then "
                "retry. Nothing was left in the cache.")
    elif "No module named venv" in output or "ensurepip" in output:
        hint = ("The interpreter lacks the venv module: install python3-venv, or install uv "
                "(pip install uv), which needs no venv module.")
    else:
        hint = ("Read the installer output above; fix the requirement or the network/"
                "certificate settings (PIP_CERT, SSL_CERT_FILE, UV_INDEX_URL) it names, then "
                "retry. Nothing was left in the cache.")
    raise EnvironmentBuildError(
        f"{step} failed (exit code {result.returncode}). Last lines of the output:\n{tail}",
        hint=hint,
    )


def _named_requirements(output: str, requirements: list[str]) -> list[str]:
    """The requirements whose package name the installer's error output mentions."""
    # Paths are left out: the cache folder itself is named "mlkube".
    text = re.sub(r"(file://)?/\S+", " ", output).lower().replace("_", "-")
    named = []
    for line in requirements:
        name = re.split(r"[\s\[<>=!~;@]", line, maxsplit=1)[0].lower().replace("_", "-")
        if name and re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text):
            named.append(line)
    return named

"""mlkube's inference server as a wheel, for environments that are not this one.

mlkube is not on PyPI, so a model's environment (a cached virtualenv or an image) cannot
``pip install mlkube[server]`` by name: it installs a wheel built from the source tree of
the mlkube that is running. Building takes well under a second with uv, but it is still
done once per source state: wheels are cached under a key hashed from the files that go
into them, so an unchanged mlkube reuses the same file (and, in images, the same layer).

``MLKUBE_SERVER_WHEEL`` names a prebuilt wheel instead, for an mlkube installed without
its source tree (from a wheel, inside a container).

Note for virtualenv reuse: every wheel carries the same version number, so reinstalling a
changed wheel into an existing environment needs ``--reinstall-package mlkube`` (uv) or
``--force-reinstall --no-deps`` (pip).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePath

from mlkube.errors import EnvironmentBuildError

#: Environment variable naming a prebuilt mlkube wheel to use instead of building one.
SERVER_WHEEL_VARIABLE = "MLKUBE_SERVER_WHEEL"

# Files at the project root that end up in the wheel's metadata.
_PROJECT_FILES = ("pyproject.toml", "README.md", "LICENSE")
_SKIPPED_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


def server_requirement(wheel: PurePath) -> str:
    """The pip requirement installing mlkube's server from ``wheel`` (an absolute path,
    on this machine or inside an image)."""
    if not wheel.is_absolute():
        raise ValueError(f"server wheel path must be absolute, got {wheel}")
    return f"mlkube[server] @ {wheel.as_uri()}"


def is_server_requirement(requirement: str) -> bool:
    """True for a requirement line that installs mlkube itself (any extras, any source)."""
    name = requirement.strip().split(";")[0]
    for separator in ("[", "@", "=", "<", ">", "!", "~", " "):
        name = name.split(separator)[0]
    return name.strip().lower() == "mlkube"


def default_cache_dir() -> Path:
    """Where mlkube caches what it builds: ``$MLKUBE_CACHE_DIR``, else the XDG cache."""
    configured = os.environ.get("MLKUBE_CACHE_DIR")
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "mlkube"


def find_source_tree(package_dir: Path | None = None) -> Path | None:
    """The project folder (holding ``pyproject.toml`` for mlkube) above the running
    package, or None when mlkube is installed without its source."""
    start = package_dir or Path(__file__).resolve().parent.parent
    for folder in (start, *start.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and 'name = "mlkube"' in pyproject.read_text(encoding="utf-8"):
            return folder
    return None


def source_hash(project_root: Path) -> str:
    """A key of everything that goes into the wheel: project metadata files and every
    file of the package, by relative path and content."""
    digest = hashlib.sha256()
    for path in _source_files(project_root):
        digest.update(path.relative_to(project_root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def build_server_wheel(
    *, project_root: Path | None = None, cache_dir: Path | None = None
) -> Path:
    """The path of a wheel of the running mlkube, built now only if the cache has none
    for the current source state.

    Raises ``EnvironmentBuildError`` when there is no source tree and no
    ``MLKUBE_SERVER_WHEEL``, or when the build fails.
    """
    prebuilt = os.environ.get(SERVER_WHEEL_VARIABLE)
    if prebuilt:
        wheel = Path(prebuilt).expanduser().resolve()
        if not wheel.is_file() or wheel.suffix != ".whl":
            raise EnvironmentBuildError(
                f"{SERVER_WHEEL_VARIABLE}={prebuilt} is not a wheel file.",
                hint=f"Point {SERVER_WHEEL_VARIABLE} at an mlkube-*.whl, or unset it to "
                "build one from mlkube's source tree.",
            )
        return wheel
    root = project_root or find_source_tree()
    if root is None:
        raise EnvironmentBuildError(
            "mlkube's source tree is not available to build the server wheel from.",
            hint=f"Install mlkube from its source folder (pip install -e .), or set "
            f"{SERVER_WHEEL_VARIABLE} to a prebuilt mlkube wheel.",
        )
    target_dir = (cache_dir or default_cache_dir()) / "server-wheels" / source_hash(root)
    cached = sorted(target_dir.glob("mlkube-*.whl"))
    if cached:
        return cached[0]
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the cache entry and rename it into place: concurrent builders never
    # see a half-written wheel, and the loser of a race simply keeps the winner's.
    with tempfile.TemporaryDirectory(dir=target_dir.parent, prefix=".build-") as scratch:
        built = _build_wheel(root, Path(scratch) / "out")
        staged = Path(scratch) / "staged"
        staged.mkdir()
        shutil.move(str(built), staged / built.name)
        try:
            os.rename(staged, target_dir)
        except OSError:
            if not any(target_dir.glob("mlkube-*.whl")):
                raise
    return sorted(target_dir.glob("mlkube-*.whl"))[0]


def _source_files(project_root: Path) -> Iterator[Path]:
    for name in _PROJECT_FILES:
        if (project_root / name).is_file():
            yield project_root / name
    package = project_root / "src" / "mlkube"
    for folder, dirnames, filenames in os.walk(package):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS)
        for filename in sorted(filenames):
            if not filename.endswith(_SKIPPED_SUFFIXES):
                yield Path(folder) / filename


def _build_command(project_root: Path, out_dir: Path) -> list[str]:
    uv = _find_uv()
    if uv:
        return [uv, "build", "--wheel", "--quiet", "--out-dir", str(out_dir), str(project_root)]
    return [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
            "--wheel-dir", str(out_dir), str(project_root)]


def _find_uv() -> str | None:
    try:
        from uv import find_uv_bin  # the uv package ships its binary next to Python

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def _build_wheel(project_root: Path, out_dir: Path) -> Path:
    command = _build_command(project_root, out_dir)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(out_dir.glob("mlkube-*.whl")) if out_dir.is_dir() else []
    if result.returncode != 0 or not wheels:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-15:])
        raise EnvironmentBuildError(
            f"Building the mlkube server wheel from {project_root} failed "
            f"(exit code {result.returncode}):\n{tail}",
            hint=f"Run `{' '.join(command)}` to see the whole error, or set "
            f"{SERVER_WHEEL_VARIABLE} to a prebuilt mlkube wheel.",
        )
    return wheels[0]

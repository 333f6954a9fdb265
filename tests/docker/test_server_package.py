"""mlkube's server as a wheel built from the running source tree: built once per source
state, reused while nothing changes, rebuilt when a file changes, installable by the
requirement it hands out."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from mlkube.environments.server_package import (
    SERVER_WHEEL_VARIABLE,
    build_server_wheel,
    find_source_tree,
    is_server_requirement,
    server_requirement,
    source_hash,
)
from mlkube.errors import EnvironmentBuildError

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def project_copy(tmp_path: Path) -> Path:
    """A copy of mlkube's source tree that the test may change."""
    root = tmp_path / "mlkube-src"
    root.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT / name, root / name)
    shutil.copytree(PROJECT / "src", root / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


def test_source_tree_is_found_above_the_running_package():
    assert find_source_tree() == PROJECT


def test_wheel_holds_the_server_and_declares_the_server_extra(project_copy, tmp_path,
                                                              monkeypatch):
    monkeypatch.delenv(SERVER_WHEEL_VARIABLE, raising=False)
    wheel = build_server_wheel(project_root=project_copy, cache_dir=tmp_path / "cache")

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(metadata_name).decode()
    assert wheel.name.startswith("mlkube-") and wheel.suffix == ".whl"
    assert "mlkube/server/app.py" in names
    assert "Provides-Extra: server" in metadata
    assert wheel.parent.name == source_hash(project_copy)


def test_unchanged_source_reuses_the_cached_wheel_and_a_change_rebuilds(
    project_copy, tmp_path, monkeypatch
):
    monkeypatch.delenv(SERVER_WHEEL_VARIABLE, raising=False)
    cache = tmp_path / "cache"
    first = build_server_wheel(project_root=project_copy, cache_dir=cache)
    built_at = first.stat().st_mtime_ns

    again = build_server_wheel(project_root=project_copy, cache_dir=cache)
    (project_copy / "src" / "mlkube" / "errors.py").write_text(
        (project_copy / "src" / "mlkube" / "errors.py").read_text() + "\n# changed\n"
    )
    changed = build_server_wheel(project_root=project_copy, cache_dir=cache)

    assert again == first and again.stat().st_mtime_ns == built_at
    assert changed != first and changed.is_file()
    with zipfile.ZipFile(changed) as archive:
        assert archive.read("mlkube/errors.py").decode().endswith("# changed\n")


def test_prebuilt_wheel_from_the_environment_variable_wins(tmp_path, monkeypatch):
    prebuilt = tmp_path / "mlkube-9.9.9-py3-none-any.whl"
    prebuilt.write_bytes(b"PK")
    monkeypatch.setenv(SERVER_WHEEL_VARIABLE, str(prebuilt))

    assert build_server_wheel(cache_dir=tmp_path / "cache") == prebuilt


def test_prebuilt_wheel_that_does_not_exist_is_an_error_naming_the_variable(tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv(SERVER_WHEEL_VARIABLE, str(tmp_path / "missing.whl"))

    with pytest.raises(EnvironmentBuildError) as caught:
        build_server_wheel(cache_dir=tmp_path / "cache")

    assert SERVER_WHEEL_VARIABLE in caught.value.message
    assert "unset" in caught.value.hint


def test_broken_source_tree_fails_with_the_build_tools_message(project_copy, tmp_path,
                                                               monkeypatch):
    monkeypatch.delenv(SERVER_WHEEL_VARIABLE, raising=False)
    pyproject = project_copy / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', 'version = "not a"'))

    with pytest.raises(EnvironmentBuildError) as caught:
        build_server_wheel(project_root=project_copy, cache_dir=tmp_path / "cache")

    assert "Building the mlkube server wheel" in caught.value.message
    assert "not a" in caught.value.message
    assert not list((tmp_path / "cache" / "server-wheels").glob("*/mlkube-*.whl"))


def test_server_requirement_names_the_server_extra_at_the_wheel_uri():
    wheel = PurePosixPath("/opt/mlkube/build/mlkube-0.1.0-py3-none-any.whl")

    requirement = server_requirement(wheel)

    assert requirement == f"mlkube[server] @ file://{wheel}"
    assert is_server_requirement(requirement)


@pytest.mark.parametrize("line, expected", [
    ("mlkube[server] @ file:///x/mlkube-0.1.0-py3-none-any.whl", True),
    ("mlkube==0.1.0", True),
    ("MLkube", True),
    ("mlkube-extras==1.0", False),
    ("mlflow==3.1", False),
])
def test_is_server_requirement_matches_mlkube_only(line, expected):
    assert is_server_requirement(line) is expected

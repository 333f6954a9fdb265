"""Interpreters are found by asking each candidate its version, pyenv's included."""

import sys

import pytest

from mlkube.environments.interpreters import find_interpreter, minor_version
from mlkube.errors import EnvironmentResolutionError


def fake_python(path, version):
    """An executable that answers the version query as an interpreter of ``version``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return path


def test_running_version_is_this_interpreter():
    current = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert find_interpreter(f"{current}.99") == (find_interpreter(current)[0], False)


def test_interpreter_of_the_minor_version_is_found_in_pyenv(tmp_path, monkeypatch):
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    fake_python(tmp_path / "versions" / "9.8.1" / "bin" / "python3", "9.7")  # lies: skipped
    wanted = fake_python(tmp_path / "versions" / "9.8.2" / "bin" / "python3.9", "9.8")
    assert find_interpreter("9.8.0") == (wanted, False)


def test_missing_version_names_it_and_the_way_out(tmp_path, monkeypatch):
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    with pytest.raises(EnvironmentResolutionError, match="Python 9.6") as caught:
        find_interpreter("9.6")
    assert "pyenv install 9.6" in caught.value.hint
    assert find_interpreter("9.6", allow_current=True) == (find_interpreter(None)[0], True)


def test_versions_are_validated():
    assert minor_version("3.11.7") == "3.11"
    with pytest.raises(EnvironmentResolutionError, match="not a Python version"):
        minor_version("latest")

"""The virtualenv cache builds real environments once, reuses them instantly, never
publishes a half-built one, and builds once when two processes ask at the same time."""

import json
import re
import shutil
import subprocess
import sys
import textwrap
import time
from dataclasses import replace

import pytest

from mlkube.environments.resolved import ResolvedEnvironment
from mlkube.environments.server_package import build_server_wheel, server_requirement
from mlkube.environments.venv_cache import installer_environment, materialize
from mlkube.errors import EnvironmentBuildError, EnvironmentResolutionError


@pytest.fixture(scope="module")
def server_line(tmp_path_factory):
    wheel = build_server_wheel(cache_dir=tmp_path_factory.mktemp("wheels"))
    return server_requirement(wheel)


@pytest.fixture(scope="module")
def small_env(server_line):
    return ResolvedEnvironment(python_version=None, requirements=(server_line, "six"))


@pytest.fixture(scope="module")
def built(small_env, tmp_path_factory):
    """The small environment materialised once: (cache, python, progress, seconds)."""
    cache = tmp_path_factory.mktemp("envs")
    messages: list[str] = []
    started = time.monotonic()
    python = materialize(small_env, cache_dir=cache, progress=messages.append)
    return cache, python, messages, time.monotonic() - started


def test_first_use_builds_with_progress_and_second_use_is_instant(small_env, built):
    cache, python, messages, first_seconds = built
    assert messages[0] == f"building environment {small_env.content_hash}"
    assert messages[1].startswith("resolving python")
    assert any(m.startswith("creating venv") for m in messages)
    assert "installing 2 packages" in messages
    # The installer's own steps come through one package at a time, as they happen.
    assert any(m.startswith("Resolved ") for m in messages), messages
    assert any(re.fullmatch(r"installed six==[\d.]+", m) for m in messages), messages
    assert not any("using cached" in m for m in messages)
    assert messages[-1].startswith("done in")
    again: list[str] = []
    started = time.monotonic()
    assert materialize(small_env, cache_dir=cache, progress=again.append) == python
    second_seconds = time.monotonic() - started
    print(f"\nvenv cache: first build {first_seconds:.2f}s, second use {second_seconds:.4f}s")
    assert second_seconds < 0.05
    assert again[0] == f"using cached environment {small_env.content_hash}"
    assert not any("installing" in m or "building" in m for m in again)


def test_environment_runs_mlkube_serve_and_has_only_what_was_asked(built):
    _, python, _, _ = built
    help_text = subprocess.run([str(python.parent / "mlkube"), "serve", "--help"],
                               capture_output=True, text=True, timeout=60)
    assert help_text.returncode == 0, help_text.stderr
    assert "--model-dir" in help_text.stdout
    probe = subprocess.run(
        [str(python), "-c", "import six, uvicorn, sys; print(sys.prefix)\n"
         "try:\n import mlflow\nexcept ImportError:\n print('no mlflow')"],
        capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, probe.stderr
    assert "no mlflow" in probe.stdout  # the control plane is not installed into models' envs


def test_records_what_it_installed_beside_the_venv(small_env, built):
    cache, _, _, _ = built
    marker = json.loads((cache / small_env.content_hash / "mlkube-env.json").read_text())
    assert marker["content_hash"] == small_env.content_hash
    assert marker["requirements"] == list(small_env.requirements)
    assert marker["installer"] == "uv"


def test_two_processes_materialising_at_once_build_once(small_env, tmp_path):
    cache = tmp_path / "envs"
    script = textwrap.dedent(f"""
        import sys
        from mlkube.environments.resolved import ResolvedEnvironment
        from mlkube.environments.venv_cache import materialize
        env = ResolvedEnvironment(python_version=None, requirements={small_env.requirements!r})
        python = materialize(env, cache_dir={str(cache)!r},
                             progress=lambda m: print("progress:", m, flush=True))
        print("python:", python, flush=True)
    """)
    workers = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=240) for w in workers]
    for worker, (_, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    stdout = [out for out, _ in outputs]
    assert sum("creating venv" in out for out in stdout) == 1
    assert sum("built by another process" in out for out in stdout) == 1
    pythons = {line for out in stdout for line in out.splitlines() if line.startswith("python:")}
    assert len(pythons) == 1
    assert len(list((cache / ".builds").iterdir())) == 1


def test_failed_install_names_the_requirement_and_leaves_nothing(server_line, tmp_path):
    bad = ResolvedEnvironment(python_version=None,
                              requirements=(server_line, "mlkube-no-such-package-xq7==1.0"))
    cache = tmp_path / "envs"
    with pytest.raises(EnvironmentBuildError) as caught:
        materialize(bad, cache_dir=cache)
    assert "mlkube-no-such-package-xq7" in caught.value.message
    assert "mlkube-no-such-package-xq7==1.0" in caught.value.hint
    assert not (cache / bad.content_hash).exists()
    assert list((cache / ".builds").iterdir()) == []


def test_missing_python_version_fails_clearly_unless_the_current_one_is_allowed(
        small_env, tmp_path):
    wanted = replace(small_env, python_version="3.2")
    cache = tmp_path / "envs"
    with pytest.raises(EnvironmentResolutionError, match="no Python 3.2 interpreter") as caught:
        materialize(wanted, cache_dir=cache)
    assert "allow" in caught.value.hint
    # A build killed earlier left a folder behind: the next build clears it.
    leftover = cache / ".builds" / f"{wanted.content_hash}-deadbeef"
    leftover.mkdir(parents=True)
    messages: list[str] = []
    python = materialize(wanted, cache_dir=cache, progress=messages.append,
                         allow_other_python=True)
    assert any(m.startswith("warning: no Python 3.2") for m in messages)
    version = subprocess.run([str(python), "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30).stdout
    assert version.strip() == str(sys.version_info[:2])
    assert not leftover.exists()


def test_pip_settings_are_passed_on_to_uv_without_overriding_uv_ones():
    env = installer_environment(
        {"PIP_CERT": "/etc/corp-ca.pem", "PIP_INDEX_URL": "https://mirror.example/simple",
         "UV_INDEX_URL": "https://uv-mirror.example/simple", "HTTPS_PROXY": "http://proxy:3128"},
        installer="uv")
    assert env["SSL_CERT_FILE"] == "/etc/corp-ca.pem"
    assert env["UV_INDEX_URL"] == "https://uv-mirror.example/simple"
    assert env["HTTPS_PROXY"] == "http://proxy:3128"
    assert env["UV_PYTHON_DOWNLOADS"] == "never"
    untouched = {"PIP_CERT": "/ca.pem"}
    assert installer_environment(untouched, installer="pip") == untouched


def test_pip_is_used_when_asked_and_builds_a_working_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MLKUBE_INSTALLER", "pip")
    env = ResolvedEnvironment(python_version=None, requirements=("six",))
    python = materialize(env, cache_dir=tmp_path / "envs")
    marker = json.loads((python.parent.parent / "mlkube-env.json").read_text())
    assert marker["installer"] == "pip"
    run = subprocess.run([str(python), "-c", "import six; print(six.__name__)"],
                         capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "six", run.stderr


def test_environment_whose_folder_was_deleted_is_rebuilt(server_line, tmp_path):
    env = ResolvedEnvironment(python_version=None, requirements=(server_line,))
    cache = tmp_path / "envs"
    python = materialize(env, cache_dir=cache)
    # A cache clean-up removed the build folder (never resolve bin/python here: it links
    # to the base interpreter).
    build = (cache / env.content_hash).resolve()
    assert build.parent == (cache / ".builds").resolve()
    shutil.rmtree(build)
    messages: list[str] = []
    rebuilt = materialize(env, cache_dir=cache, progress=messages.append)
    assert rebuilt == python and rebuilt.exists()
    assert "installing 1 packages" in messages
    assert len(list((cache / ".builds").iterdir())) == 1


def test_installer_lines_shown_as_progress_are_the_per_package_ones():
    from mlkube.environments.venv_cache import installer_progress

    assert installer_progress("Downloading torch (750.0MiB)\n") == "Downloading torch (750.0MiB)"
    assert installer_progress("  Collecting numpy==2.1\n") == "Collecting numpy==2.1"
    assert installer_progress(" + torch==2.5.1\n") == "installed torch==2.5.1"
    assert installer_progress("Using Python 3.11.7 environment at: /x\n") is None
    assert installer_progress("   Building wheel for x (setup.py) ... done\n") is None

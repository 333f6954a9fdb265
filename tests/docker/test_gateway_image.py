"""The gateway image's build context: with this machine's native engine, the binary sits
beside the image's virtualenv Python (where `mlkube gateway run` finds it), executable,
and is part of the image's content tag; without it the image is the Python engine alone.
Pure: the context is rendered, not built (the pod-spec contract test and the live
cluster tests run the image)."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest

from mlkube.gateway.engine import is_static_executable
from mlkube.targets.docker.build import gateway_build_context
from tests.gateway.native import native_binary

INSIDE = "/opt/mlkube/env/bin/mlkube-gateway"


@pytest.fixture()
def wheel(tmp_path: Path) -> Path:
    path = tmp_path / "mlkube-0.1.0-py3-none-any.whl"
    path.write_bytes(b"not really a wheel, but bytes to copy")
    return path


@pytest.fixture()
def binary(tmp_path: Path) -> Path:
    """A copy of the native engine, built as `make install` builds it."""
    copy = tmp_path / "bin" / "mlkube-gateway"
    copy.parent.mkdir()
    shutil.copy2(native_binary(), copy)
    return copy


def _tar_members(context) -> dict[str, tarfile.TarInfo]:
    buffer = io.BytesIO()
    context.write_tar(buffer)
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as archive:
        return {member.name: member for member in archive.getmembers()}


def test_gateway_image_carries_the_native_engine_beside_its_python(wheel, binary):
    context = gateway_build_context(wheel, native_gateway=binary)

    instructions = [line for line in context.dockerfile.replace("\\\n", " ").splitlines()
                    if line and not line.startswith("#")]
    titled = dict(zip(context.steps, instructions, strict=True))  # "Step N/M" stays right
    assert titled[f"copy the native gateway engine to {INSIDE}"] == (
        f"COPY mlkube-build/mlkube-gateway {INSIDE}")
    member = _tar_members(context)["mlkube-build/mlkube-gateway"]
    assert member.mode == 0o755 and member.size == binary.stat().st_size


def test_gateway_image_tag_changes_with_the_binary_and_without_it(wheel, binary):
    with_binary = gateway_build_context(wheel, native_gateway=binary).content_hash
    python_only = gateway_build_context(wheel)
    with binary.open("ab") as grown:  # a rebuilt binary: other bytes
        grown.write(b"\0")
    rebuilt = gateway_build_context(wheel, native_gateway=binary).content_hash

    assert "mlkube-gateway" not in python_only.dockerfile
    assert len({with_binary, python_only.content_hash, rebuilt}) == 3
    assert gateway_build_context(wheel, native_gateway=binary).content_hash == rebuilt


def test_only_a_statically_linked_engine_may_go_into_an_image(binary, tmp_path):
    dynamic = Path(shutil.which("ls") or "/bin/ls")
    text = tmp_path / "mlkube-gateway.sh"
    text.write_text("#!/bin/sh\n")

    assert is_static_executable(binary)
    assert not is_static_executable(dynamic)  # needs the host's C library and loader
    assert not is_static_executable(text)
    assert not is_static_executable(tmp_path / "missing")

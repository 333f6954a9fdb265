"""Which program serves an endpoint's gateway on this machine: native, or Python.

The gateway is on every scoring request, so its CPU is what each request costs a user
beyond the model (issue 14). The native engine (``gateway-native/``, Go, standard library
only) reads the same config and keys files and gives the same answers, headers, health
JSON, metrics and access log as the Python one (the gateway tests run against both), for
about a third of the CPU. It is a binary built from the repository: ``make install``
builds ``mlkube-gateway`` into the virtualenv when Go is on PATH. An install without it
serves with the Python engine, which stays complete.

``MLKUBE_GATEWAY_ENGINE`` chooses: ``auto`` (the default: native when its binary is
found), ``native`` (refuse to start an endpoint without it), ``python``.

``mlkube gateway run`` itself hands over to the binary (``exec_native``), so whatever
starts that command (a Kubernetes gateway pod, a person) gets the native engine where
it is installed; a gateway image carries this machine's binary (``image_binary``).
"""

from __future__ import annotations

import os
import shutil
import struct
import sys
from collections.abc import Sequence
from pathlib import Path

from mlkube.errors import ValidationError

BINARY = "mlkube-gateway"
ENGINE_VARIABLE = "MLKUBE_GATEWAY_ENGINE"
ENGINES = ("auto", "native", "python")
#: The ELF program header type naming a dynamic loader.
_PT_INTERP = 3


def native_binary() -> Path | None:
    """The native gateway next to this Python (the virtualenv's ``bin``), else on PATH."""
    beside = Path(sys.executable).parent / BINARY
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(BINARY)
    return Path(found) if found else None


def engine_choice() -> str:
    """``MLKUBE_GATEWAY_ENGINE`` checked: ``auto`` (when unset), ``native`` or ``python``."""
    wanted = os.environ.get(ENGINE_VARIABLE, "auto").strip().lower() or "auto"
    if wanted not in ENGINES:
        raise ValidationError(
            f"{ENGINE_VARIABLE}={wanted!r} is not a gateway engine.",
            hint=f"Set it to one of {', '.join(ENGINES)} (or unset it: auto).")
    return wanted


def chosen_binary() -> Path | None:
    """The native binary to serve with, or None for the Python engine, as
    ``MLKUBE_GATEWAY_ENGINE`` says."""
    wanted = engine_choice()
    if wanted == "python":
        return None
    binary = native_binary()
    if binary is None and wanted == "native":
        raise ValidationError(
            f"{ENGINE_VARIABLE}=native, but no {BINARY} binary is installed beside "
            f"{sys.executable} or on PATH.",
            hint="Build it with `make install` (needs Go ≥ 1.26 on PATH), or unset "
                 f"{ENGINE_VARIABLE} to serve with the Python engine.")
    return binary


def gateway_command(*, config: Path, keys: Path, port: int, host: str,
                    reload_interval_s: float) -> list[str]:
    """The command that serves one endpoint's gateway on this machine."""
    binary = chosen_binary()
    files = ["--config", str(config), "--keys", str(keys), "--port", str(port),
             "--host", host, "--reload-interval", str(reload_interval_s)]
    if binary is not None:
        return [str(binary), *files]
    return [sys.executable, "-m", "mlkube.cli.main", "gateway", "run", *files]


def image_binary() -> Path | None:
    """The native binary to put in a gateway image, or None for a Python-only image: the
    chosen one (``MLKUBE_GATEWAY_ENGINE``), when it is statically linked (a dynamically
    linked one may need a C library the image's Debian lacks; ``make install`` builds it
    with ``CGO_ENABLED=0``)."""
    binary = chosen_binary()
    return binary if binary is not None and is_static_executable(binary) else None


def is_static_executable(path: Path) -> bool:
    """Whether ``path`` is a 64-bit little-endian ELF executable without a program
    interpreter (no dynamic loader, so it runs on any Linux of its architecture)."""
    try:
        with path.open("rb") as binary:
            header = binary.read(64)
            if len(header) < 64 or header[:6] != b"\x7fELF\x02\x01":
                return False
            (program_headers,) = struct.unpack_from("<Q", header, 32)  # e_phoff
            entry_size, entries = struct.unpack_from("<HH", header, 54)  # e_phentsize, e_phnum
            binary.seek(program_headers)
            table = binary.read(entry_size * entries)
    except OSError:
        return False
    return len(table) == entry_size * entries and all(
        struct.unpack_from("<I", table, i * entry_size)[0] != _PT_INTERP
        for i in range(entries))


def exec_native(binary: Path, arguments: Sequence[str]) -> None:
    """Replace this process with the native engine serving ``arguments`` (the flags of
    ``mlkube gateway run``, which the binary takes one for one). Never returns: the
    binary never starts mlkube again, so there is no loop, and the process keeps its pid
    (a container's PID 1, a target's supervised process) and its signals."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(binary, [str(binary), *arguments])

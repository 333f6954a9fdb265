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
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from mlkube.errors import ValidationError

BINARY = "mlkube-gateway"
ENGINE_VARIABLE = "MLKUBE_GATEWAY_ENGINE"
ENGINES = ("auto", "native", "python")


def native_binary() -> Path | None:
    """The native gateway next to this Python (the virtualenv's ``bin``), else on PATH."""
    beside = Path(sys.executable).parent / BINARY
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(BINARY)
    return Path(found) if found else None


def chosen_binary() -> Path | None:
    """The native binary to serve with, or None for the Python engine, as
    ``MLKUBE_GATEWAY_ENGINE`` says."""
    wanted = os.environ.get(ENGINE_VARIABLE, "auto").strip().lower() or "auto"
    if wanted not in ENGINES:
        raise ValidationError(
            f"{ENGINE_VARIABLE}={wanted!r} is not a gateway engine.",
            hint=f"Set it to one of {', '.join(ENGINES)} (or unset it: auto).")
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

"""Waiting until a local endpoint's gateway serves what was just written.

The gateway re-reads its config and keys files by itself (every
``GATEWAY_RELOAD_SECONDS``). A command that changed them returns only once the change is
live, so ``begin_create_or_update(...).result()`` means "traffic has shifted" and
``begin_regenerate_keys(...).result()`` means "the old key no longer works". The
gateway says which config it serves (the digest at ``GET /``); a key change is seen by
the new key being accepted.
"""

from __future__ import annotations

import time

import httpx

from mlkube.errors import TargetError, ValidationError
from mlkube.gateway.config import load_gateway_config
from mlkube.targets.local.processes import read_status, tail_log
from mlkube.targets.local.state import GATEWAY_PROGRAM, EndpointFolder

#: How long a gateway may take to start or to apply a change.
GATEWAY_WAIT_SECONDS = 30.0
#: A gateway that exited this many times is not going to start (a port taken, ...).
MAX_GATEWAY_EXITS = 3
_POLL_SECONDS = 0.1


def wait_for_config(folder: EndpointFolder, digest: str) -> None:
    """Return once the gateway serves the config with ``digest``, or the one now in the
    file (another command may have written a newer one, rendered from records that
    include this change)."""
    port = _port(folder)
    deadline = time.monotonic() + GATEWAY_WAIT_SECONDS
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while True:
            try:
                served = client.get(f"http://127.0.0.1:{port}/").json().get("config_digest")
            except (httpx.TransportError, ValueError):
                served = None
            if served is not None and served in (digest, _file_digest(folder)):
                return
            status = read_status(folder.path).get(GATEWAY_PROGRAM)
            if time.monotonic() > deadline or (status and status.restarts >= MAX_GATEWAY_EXITS):
                raise TargetError(
                    f"The gateway of endpoint {folder.name} on port {port} did not "
                    f"{'start' if served is None else 'apply the new config'} within "
                    f"{GATEWAY_WAIT_SECONDS:.0f}s. Last lines of its log:\n"
                    f"{gateway_log_tail(folder)}",
                    hint="Read the gateway log above (a port taken by another program, a "
                    "config refused); then apply the endpoint again.")
            time.sleep(_POLL_SECONDS)


def wait_for_key(folder: EndpointFolder, key: str) -> None:
    """Return once the gateway accepts ``key`` (it has re-read the keys file)."""
    port = _port(folder)
    deadline = time.monotonic() + GATEWAY_WAIT_SECONDS
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            try:
                # Any answer but 401 means the credential passed the gateway's check.
                response = client.get(f"http://127.0.0.1:{port}/swagger.json",
                                      headers={"Authorization": f"Bearer {key}"})
                if response.status_code != 401:
                    return
            except httpx.TransportError:
                pass
            time.sleep(_POLL_SECONDS)
    raise TargetError(
        f"The gateway of endpoint {folder.name} did not pick up the new keys within "
        f"{GATEWAY_WAIT_SECONDS:.0f}s. Last lines of its log:\n{gateway_log_tail(folder)}",
        hint="Read the gateway log above; then regenerate the key again.")


def gateway_log_tail(folder: EndpointFolder, lines: int = 20) -> str:
    """The gateway log's last lines that say something: access lines left out."""
    text = tail_log(folder.logs_dir / "gateway.log", 2000)
    useful = [line for line in text.splitlines() if " access " not in line]
    return "\n".join(useful[-lines:])


def _port(folder: EndpointFolder) -> int:
    return int((folder.read_endpoint() or {})["port"])


def _file_digest(folder: EndpointFolder) -> str | None:
    try:
        return load_gateway_config(folder.gateway_config_file.read_text()).digest
    except (OSError, ValidationError):
        return None

"""Waiting until a local endpoint's gateway serves what was just written.

The gateway re-reads its config and keys files by itself (every
``GATEWAY_RELOAD_SECONDS``). A command that changed them returns only once the change is
live, so ``begin_create_or_update(...).result()`` means "traffic has shifted" and
``begin_regenerate_keys(...).result()`` means "the old key no longer works". The
gateway says what it serves at ``GET /``: its config's digest and its keys' fingerprint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from mlkube.errors import TargetError, ValidationError
from mlkube.gateway.auth import EndpointKeys
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
    _wait_until_served(
        folder, lambda health: health.get("config_digest") in (digest, file_digest(folder)),
        failed="apply the new config",
        hint="Read the gateway log above (a port taken by another program, a config "
             "refused); then apply the endpoint again.")


def wait_for_keys(folder: EndpointFolder, keys: EndpointKeys) -> None:
    """Return once the gateway authenticates with ``keys`` (it has re-read the keys file,
    so the replaced key no longer works)."""
    _wait_until_served(
        folder, lambda health: health.get("keys_fingerprint") == keys.fingerprint,
        failed="pick up the new keys",
        hint="Read the gateway log above; then regenerate the key again.")


def _wait_until_served(folder: EndpointFolder, served: Callable[[dict[str, Any]], bool], *,
                       failed: str, hint: str) -> None:
    """Poll the gateway's ``GET /`` (what it serves: config digest, keys fingerprint)
    until ``served`` holds; fail with its log if it does not start or apply in time."""
    port = _port(folder)
    deadline = time.monotonic() + GATEWAY_WAIT_SECONDS
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while True:
            try:
                health = client.get(f"http://127.0.0.1:{port}/").json()
            except (httpx.TransportError, ValueError):
                health = None
            if isinstance(health, dict) and served(health):
                return
            status = read_status(folder.path).get(GATEWAY_PROGRAM)
            if time.monotonic() > deadline or (status and status.restarts >= MAX_GATEWAY_EXITS):
                raise TargetError(
                    f"The gateway of endpoint {folder.name} on port {port} did not "
                    f"{'start' if health is None else failed} within "
                    f"{GATEWAY_WAIT_SECONDS:.0f}s. Last lines of its log:\n"
                    f"{gateway_log_tail(folder)}",
                    hint=hint)
            time.sleep(_POLL_SECONDS)


def gateway_log_tail(folder: EndpointFolder, lines: int = 20) -> str:
    """The gateway log's last lines that say something: access lines left out."""
    text = tail_log(folder.logs_dir / "gateway.log", 2000)
    useful = [line for line in text.splitlines() if " access " not in line]
    return "\n".join(useful[-lines:])


def _port(folder: EndpointFolder) -> int:
    return int((folder.read_endpoint() or {})["port"])


def file_digest(folder: EndpointFolder) -> str | None:
    """The digest of the config in the gateway's file now (None if unreadable)."""
    try:
        return load_gateway_config(folder.gateway_config_file.read_text()).digest
    except (OSError, ValidationError):
        return None

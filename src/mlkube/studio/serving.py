"""``run_studio``: bind, print the URL with its token, serve until stopped.

The socket is bound before anything is printed, so the printed URL (first line on
stdout, ``Studio: http://HOST:PORT/?token=...``) names the real port even for
``--port 0``, and a browser or test that reads it finds the studio listening. Only
loopback addresses are bound unless ``allow_remote`` is given; the token is required
either way. uvicorn's own access log is off (it would write the ``?token=`` query):
the studio logs paths only (``app.AccessLog``).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
import threading
from typing import Any

from mlkube.errors import ValidationError
from mlkube.studio.app import create_app
from mlkube.studio.auth import Sessions


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int, *, allow_remote: bool) -> socket.socket:
    if not is_loopback(host) and not allow_remote:
        raise ValidationError(
            f"--host {host} is not a loopback address: the studio would be reachable from "
            "other machines.",
            hint="Keep the default --host 127.0.0.1 (and tunnel: ssh -L 8080:127.0.0.1:8080)"
            ", or add --allow-remote; the token is required either way.")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ValidationError(f"Cannot listen on {host}:{port}: {error.strerror}.",
                              hint="Pick another --port (0 picks a free one).") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def studio_url(host: str, port: int, token: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={token}"


def run_studio(ml_client: Any, *, host: str = "127.0.0.1", port: int = 8080,
               allow_remote: bool = False) -> None:
    """Serve the studio for ``ml_client``'s workspace until interrupted."""
    import uvicorn

    sock = bind(host, port, allow_remote=allow_remote)
    sessions = Sessions()
    app = create_app(ml_client, sessions)
    # Opening the workspace's store takes seconds the first time: done meanwhile, so
    # the first page does not wait for it.
    threading.Thread(target=_warm_up, args=(ml_client,), daemon=True).start()
    print(f"Studio: {studio_url(host, sock.getsockname()[1], sessions.token)}", flush=True)
    logging.basicConfig(level=logging.INFO, format="studio: %(message)s", stream=sys.stderr)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[sock])


def _warm_up(ml_client: Any) -> None:
    try:
        ml_client.models.list()
        ml_client.online_endpoints.list()
    except Exception:  # the pages report it, with its cause and fix
        pass

"""Starts the inference server: uvicorn with httptools and uvloop, 1..N workers.

One worker runs the app in this process. Several use uvicorn's own multi-process mode
with ``app_from_env`` as the app factory: the settings travel to the workers as
environment variables (``ServerSettings.to_env``), and each worker loads its own
model. Accepted sockets get ``TCP_NODELAY`` so small responses are not held back by
Nagle's algorithm; per-request access logging stays off the hot path.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from typing import Any

from mlkube.server.settings import ServerSettings

logger = logging.getLogger("mlkube.server")


def _nodelay_protocol() -> type:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class NoDelayHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol, with TCP_NODELAY set on every connection."""

        def connection_made(self, transport: Any) -> None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except (OSError, AttributeError):
                    pass  # not TCP (a Unix socket): nothing to disable
            super().connection_made(transport)

    return NoDelayHttpToolsProtocol


def _http_implementation() -> Any:
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "mlkube.server.runner:NoDelayHttpToolsProtocol"


def _loop_implementation() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def configure_logging() -> None:
    """Server logs (model load, init traceback, scoring errors) go to stderr."""
    log = logging.getLogger("mlkube")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def build_app(settings: ServerSettings) -> Any:
    """The app for ``settings``, loading its model in the background."""
    from mlkube.server.app import create_app
    from mlkube.server.scorers import make_scorer

    return create_app(make_scorer(settings), settings)


def app_from_env() -> Any:
    """App factory for uvicorn worker processes: settings come from the environment."""
    configure_logging()
    return build_app(ServerSettings.from_env(os.environ))


def serve(settings: ServerSettings) -> None:
    """Run the server until interrupted."""
    import uvicorn

    configure_logging()
    # Scripts and worker processes read these, as they would on Azure ML.
    os.environ.update(settings.to_env())
    common: dict[str, Any] = dict(
        host=settings.host,
        port=settings.port,
        http=_http_implementation(),
        loop=_loop_implementation(),
        lifespan="on",
        access_log=False,
        log_level="info",
        timeout_keep_alive=30,
        server_header=False,
    )
    logger.info("mlkube inference server: %s mode, %d worker(s), http://%s:%d",
                "entry-script" if settings.entry_script else "no-code",
                settings.workers, settings.host, settings.port)
    if settings.workers > 1:
        uvicorn.run("mlkube.server.runner:app_from_env", factory=True,
                    workers=settings.workers, **common)
    else:
        uvicorn.run(build_app(settings), **common)


def __getattr__(name: str) -> Any:
    # uvicorn imports the protocol class by dotted path; build it (and import uvicorn)
    # only then, so importing this module stays cheap.
    if name == "NoDelayHttpToolsProtocol":
        return _nodelay_protocol()
    raise AttributeError(name)

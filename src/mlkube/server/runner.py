"""Starts the inference server: uvicorn with httptools and uvloop, 1..N workers.

One worker runs the app in this process. Several use uvicorn's own multi-process mode
with ``app_from_env`` as the app factory: the settings travel to the workers as
environment variables (``ServerSettings.to_env``), and each worker loads its own
model. Connections are served by ``mlkube.http_protocol`` (uvicorn's httptools protocol
with a request-head limit, a head deadline, a connection cap and ``TCP_NODELAY``, as the
gateway's); per-request access logging stays off the hot path.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from mlkube.server.settings import ServerSettings

logger = logging.getLogger("mlkube.server")


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

    from mlkube.http_limits import HttpLimits
    from mlkube.http_protocol import WORKER_PROTOCOL, http_protocol

    configure_logging()
    # Scripts and worker processes read these, as they would on Azure ML.
    os.environ.update(settings.to_env())
    # The head-size limit, head deadline and connection cap uvicorn lacks (defaults, or
    # MLKUBE_HTTP_* variables); spawned workers import the protocol by name and read the
    # limits from the environment.
    limits = HttpLimits.from_env(os.environ)
    os.environ.update(limits.to_env())
    http: Any = WORKER_PROTOCOL if settings.workers > 1 else http_protocol(limits)
    common: dict[str, Any] = dict(
        host=settings.host,
        port=settings.port,
        http=http,
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

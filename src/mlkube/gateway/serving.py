"""How the gateway is served: uvicorn's options, in one place for `mlkube gateway run`
and for the tests, so what is tested is what every target runs.

uvicorn with httptools (its fastest parser) and ``mlkube.http_protocol``'s limits on
request heads, their deadline and open connections (uvicorn alone has none of the three;
see ``mlkube.http_limits``). No access log (the gateway writes its own, with request id
and deployment), no proxy headers (routing needs no client address), no ``server`` or
``date`` header (the upstream's own are not forwarded either).
"""

from __future__ import annotations

from typing import Any

from mlkube.http_limits import HttpLimits
from mlkube.http_protocol import http_protocol

#: Seconds an idle kept-alive client connection stays open (uvicorn's default).
DEFAULT_KEEP_ALIVE_S = 5


def uvicorn_options(limits: HttpLimits, *, keep_alive_s: float = DEFAULT_KEEP_ALIVE_S
                    ) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config`` besides app, host, port,
    loop and log level."""
    return {
        "http": http_protocol(limits),
        "ws": "none",  # no WebSocket routes: an upgrade request is plain HTTP
        "lifespan": "on",
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
        "date_header": False,
        "timeout_keep_alive": keep_alive_s,
        "timeout_graceful_shutdown": 30,
    }

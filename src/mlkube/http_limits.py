"""How much of a connection a client may hold before it has sent a whole request head.

uvicorn's httptools protocol buffers a request's line and headers without a bound, arms
no timer until a first response has been sent (a connection that sends half a head, or
nothing, is kept forever), and its only connection cap (``limit_concurrency``) answers
in plain text. These three numbers are what ``mlkube.http_protocol`` enforces instead,
for the gateway and the inference server alike. This module is plain data (no uvicorn),
so CLIs and settings can build and check it cheaply.

Worker processes started by uvicorn (``workers > 1``) are spawned afresh and learn their
limits from the environment: ``to_env`` / ``from_env`` carry them there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mlkube.errors import ValidationError

#: Largest request head (request line + headers) by default: far above any real client's
#: (browsers send < 8 KB, a JWT bearer token is < 2 KB), far below memory trouble.
DEFAULT_MAX_HEAD_BYTES = 64 * 1024
#: Seconds a client has, from connecting (or from the first byte of a later request on a
#: kept-alive connection), to send the whole head.
DEFAULT_HEAD_TIMEOUT_S = 10.0
#: Open connections a server process holds before it refuses new ones with 503.
DEFAULT_MAX_CONNECTIONS = 2048

_ENV = {
    "max_head_bytes": "MLKUBE_HTTP_MAX_HEAD_BYTES",
    "head_timeout_s": "MLKUBE_HTTP_HEAD_TIMEOUT_S",
    "max_connections": "MLKUBE_HTTP_MAX_CONNECTIONS",
}


@dataclass(frozen=True)
class HttpLimits:
    """The protocol-level limits of one HTTP server process.

    ``max_head_bytes``: a request whose line and headers are larger is answered 431.
    ``head_timeout_s``: a head not complete this long after it started is answered 408
    (a connection that never sent a byte is just closed); slow-sending ("slowloris")
    clients cannot hold a connection longer, whatever their pace.
    ``max_connections``: a connection opened while this many are open is answered 503
    and closed as soon as its head has arrived (or at the head deadline).
    """

    max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES
    head_timeout_s: float = DEFAULT_HEAD_TIMEOUT_S
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    def __post_init__(self) -> None:
        for name in _ENV:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValidationError(
                    f"HTTP limit {name} is {value!r}; it must be a positive number.",
                    hint=f"Pass a positive {name} (default "
                         f"{getattr(HttpLimits, name)}), or leave it unset.")
        if self.max_head_bytes < 1024:
            raise ValidationError(
                f"HTTP limit max_head_bytes is {self.max_head_bytes}; under 1 KB no real "
                "request head fits.", hint="Use at least 1024 bytes (default 64 KB).")

    def to_env(self) -> dict[str, str]:
        """The limits as environment variables, for spawned worker processes."""
        return {variable: str(getattr(self, name)) for name, variable in _ENV.items()}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HttpLimits:
        """The limits ``to_env`` wrote; defaults for the variables that are not set."""
        values: dict[str, int | float] = {}
        for name, variable in _ENV.items():
            raw = env.get(variable)
            if raw is None or raw == "":
                continue
            try:
                values[name] = float(raw) if name == "head_timeout_s" else int(raw)
            except ValueError:
                raise ValidationError(f"{variable}={raw!r} is not a number.",
                                      hint=f"Set {variable} to a positive number, or unset "
                                           "it for the default.") from None
        return cls(**values)  # type: ignore[arg-type]

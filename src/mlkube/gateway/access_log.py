"""The gateway's access log: one line per request, written in batches.

Every request pays for its log line, and a ``logging`` record costs tens of
microseconds, a noticeable share of the gateway's added latency. Lines are therefore
formatted with one f-string and written to the stream in batches: when 256 are waiting,
or when the gateway's flusher runs (every 0.2 s), so a line appears at most a fraction
of a second late. A line holds the request id, method, path, deployment, status and
latency, and never a header value, so it cannot leak a key::

    2026-11-28T10:10:00.123Z access 5f0c...e1 POST /score deployment=blue status=200 latency_ms=1.2
"""

from __future__ import annotations

import time
from typing import TextIO

FLUSH_INTERVAL_S = 0.2
_MAX_WAITING = 256


class AccessLog:
    """Buffered access lines to ``stream``; nothing is written when ``stream`` is None."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self._lines: list[str] = []
        self._second = -1
        self._prefix = ""

    def write(self, request_id: str, method: str, path: str, deployment: str, status: int,
              seconds: float) -> None:
        if self.stream is None:
            return
        now = time.time()
        second = int(now)
        if second != self._second:
            # Formatting the date once a second keeps the per-line cost at one f-string.
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        self._lines.append(
            f"{self._prefix}.{int((now - second) * 1000):03d}Z access {request_id} {method} "
            f"{path} deployment={deployment or '-'} status={status} "
            f"latency_ms={seconds * 1000:.1f}\n")
        if len(self._lines) >= _MAX_WAITING:
            self.flush()

    def flush(self) -> None:
        if not self._lines or self.stream is None:
            return
        text = "".join(self._lines)
        self._lines.clear()
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed or full log stream must not fail requests

"""CPU per request of uvicorn's HTTP protocols, outside any network (not a test).

    .venv/bin/python -m bench.http_protocol

One kept-alive connection on a fake transport, a trivial app, 20,000 POSTs per run,
thread CPU time, the protocols interleaved over 15 runs: uvicorn's stock httptools
protocol, mlkube's ``LimitedHttpToolsProtocol`` (head limit, head deadline, connection
cap) and uvicorn's h11 protocol (the one with a head-size knob of its own). The medians
are what ``mlkube/http_protocol.py`` quotes.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from mlkube.http_limits import HttpLimits
from mlkube.http_protocol import http_protocol

BODY = b'{"data": [[1, 2, 3, 4]]}'
REQUEST = (b"POST /score HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAuthorization: Bearer "
           + b"k" * 43 + b"\r\nContent-Type: application/json\r\nContent-Length: "
           + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


async def app(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


class FakeTransport:
    def __init__(self) -> None:
        self.closing = False

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def cpu_us_per_request(protocol_class: type, count: int) -> float:
    config = Config(app, lifespan="off", access_log=False, log_level="warning",
                    server_header=False, date_header=False)
    config.load()
    state = ServerState()
    protocol = protocol_class(config, state, {}, _loop=asyncio.get_running_loop())
    protocol.connection_made(FakeTransport())
    started = time.thread_time()
    for _ in range(count):
        protocol.data_received(REQUEST)
        while state.tasks:
            await asyncio.sleep(0)
    return (time.thread_time() - started) / count * 1e6


async def main() -> None:
    protocols = {"httptools (stock)": HttpToolsProtocol,
                 "httptools (mlkube limits)": http_protocol(HttpLimits()),
                 "h11": H11Protocol}
    runs: dict[str, list[float]] = {name: [] for name in protocols}
    for _ in range(15):
        for name, protocol_class in protocols.items():
            runs[name].append(await cpu_us_per_request(protocol_class, 20_000))
    for name, values in runs.items():
        print(f"{name:28} median {statistics.median(values):6.1f} µs CPU per request")


if __name__ == "__main__":
    asyncio.run(main())

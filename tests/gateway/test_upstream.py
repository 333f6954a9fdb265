"""The gateway's pooled HTTP client against real sockets that misbehave on purpose."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from mlkube.gateway.upstream import (
    UpstreamBrokenError,
    UpstreamClient,
    UpstreamConnectError,
    UpstreamInstance,
    UpstreamTimeoutError,
)
from tests.gateway.conftest import dead_url
from tests.gateway.native import python_only

pytestmark = python_only("unit tests of mlkube.gateway.upstream, the Python upstream client")

OK = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"


async def _serve(handler):
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, UpstreamInstance.from_url(f"http://127.0.0.1:{port}")


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


def test_connections_are_kept_alive_and_reused():
    connections = []

    async def handler(reader, writer):
        connections.append(writer)
        while True:
            try:
                request = await _read_request(reader)
            except asyncio.IncompleteReadError:
                break
            assert b"x-test: 1" in request and request.endswith(b"body")
            writer.write(OK)

    async def scenario():
        server, instance = await _serve(handler)
        client = UpstreamClient()
        for _ in range(5):
            response = await client.request(instance, "POST", b"/score", [(b"x-test", b"1")],
                                            b"body", timeout_s=5)
            assert (response.status, response.body) == (200, b"ok")
        assert len(connections) == 1
        await client.aclose()
        server.close()

    asyncio.run(scenario())


def test_idle_connection_closed_by_the_server_is_replaced_transparently():
    async def handler(reader, writer):
        await _read_request(reader)
        writer.write(OK)
        await writer.drain()
        writer.close()  # no keep-alive announced: the client learns it only on reuse

    async def scenario():
        server, instance = await _serve(handler)
        client = UpstreamClient()
        for _ in range(3):
            response = await client.request(instance, "GET", b"/", [], b"", timeout_s=5)
            assert response.status == 200
        await client.aclose()
        server.close()

    asyncio.run(scenario())


def test_chunked_close_delimited_and_interim_answers_are_read_whole():
    async def interim(reader, writer):
        await _read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n" + OK)

    async def chunked(reader, writer):
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                     b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")

    async def until_close(reader, writer):
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nall of it")
        await writer.drain()
        writer.close()

    async def scenario():
        client = UpstreamClient()
        for handler, body in ((interim, b"ok"), (chunked, b"abcde"),
                              (until_close, b"all of it")):
            server, instance = await _serve(handler)
            response = await client.request(instance, "GET", b"/", [], b"", timeout_s=5)
            assert response.body == body
            server.close()
        await client.aclose()

    asyncio.run(scenario())


def test_failures_are_told_apart_refused_broken_and_timed_out():
    async def hang_up(reader, writer):
        await _read_request(reader)
        writer.close()

    async def stall(reader, writer):
        await _read_request(reader)
        await asyncio.sleep(5)

    async def scenario():
        client = UpstreamClient()
        with pytest.raises(UpstreamConnectError, match="cannot connect"):
            await client.request(UpstreamInstance.from_url(dead_url()), "GET", b"/", [], b"",
                                 timeout_s=5)
        server, instance = await _serve(hang_up)
        with pytest.raises(UpstreamBrokenError, match="closed the connection before answering"):
            await client.request(instance, "POST", b"/score", [], b"{}", timeout_s=5)
        server.close()
        server, instance = await _serve(stall)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(UpstreamTimeoutError):
            await client.request(instance, "POST", b"/score", [], b"{}", timeout_s=0.2)
        assert loop.time() - started < 1
        server.close()
        await client.aclose()

    asyncio.run(scenario())


def test_instance_url_path_prefix_is_kept():
    seen = []

    async def handler(reader, writer):
        seen.append((await _read_request(reader)).split(b"\r\n")[0])
        writer.write(OK)

    async def scenario():
        server, instance = await _serve(handler)
        prefixed = UpstreamInstance.from_url(instance.url + "/blue")
        client = UpstreamClient()
        await client.request(prefixed, "POST", b"/score?x=1", [], b"{}", timeout_s=5)
        await client.aclose()
        server.close()

    asyncio.run(scenario())
    assert seen == [b"POST /blue/score?x=1 HTTP/1.1"]


def test_reset_before_the_request_is_read_means_not_sent_but_close_after_means_broken():
    async def reset(reader, writer):
        writer.transport.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def close_after_reading(reader, writer):
        await _read_request(reader)
        writer.close()

    async def scenario():
        client = UpstreamClient()
        server, instance = await _serve(reset)
        with pytest.raises(UpstreamConnectError, match="reset the connection before reading"):
            await client.request(instance, "POST", b"/score", [], b"{}", timeout_s=5)
        server.close()
        server, instance = await _serve(close_after_reading)
        with pytest.raises(UpstreamBrokenError, match="closed the connection before answering"):
            await client.request(instance, "POST", b"/score", [], b"{}", timeout_s=5)
        server.close()
        await client.aclose()

    asyncio.run(scenario())


def test_pooled_connection_to_a_server_that_died_reports_not_sent():
    served = []

    async def handler(reader, writer):
        await _read_request(reader)
        writer.write(OK)
        served.append(writer)
        # The server dies with this connection kept alive; as it goes, the client's next
        # request crosses its close (the race a killed instance leaves behind).
        await reader.read(1)
        writer.transport.abort()

    async def scenario():
        server, instance = await _serve(handler)
        client = UpstreamClient()
        assert (await client.request(instance, "GET", b"/", [], b"", timeout_s=5)).status == 200
        server.close()
        await asyncio.sleep(0)
        with pytest.raises(UpstreamConnectError, match="cannot connect"):
            await client.request(instance, "POST", b"/score", [], b"{}", timeout_s=5)
        assert len(served) == 1
        await client.aclose()

    asyncio.run(scenario())

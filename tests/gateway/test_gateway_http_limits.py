"""The gateway's HTTP limits (``mlkube.http_protocol``), served as `mlkube gateway run`
serves it: head size, head deadline, connection cap, slow clients, unparsable requests."""

from __future__ import annotations

import logging
import socket
import statistics
import threading
import time

import pytest

from mlkube.errors import ValidationError
from mlkube.http_limits import HttpLimits
from tests.gateway.conftest import deployment
from tests.gateway.raw_client import closed_by_peer, connect, exchange, read_response
from tests.gateway.servers import wait_until


def _config(upstream) -> dict:
    return {"endpoint": "iris", "traffic": {"blue": 100},
            "deployments": {"blue": deployment(upstream, max_concurrent_requests_per_instance=8)}}


def _post(key: str, *headers: bytes, body: bytes = b"{}") -> bytes:
    return (b"POST /score HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer " + key.encode()
            + b"\r\ncontent-type: application/json\r\n" + b"".join(h + b"\r\n" for h in headers)
            + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def test_request_head_over_the_limit_is_431_in_json_before_it_is_authenticated(
        upstream, gateway):
    blue = upstream("blue")
    gw = gateway(_config(blue), limits=HttpLimits(max_head_bytes=8192))

    in_one_read = exchange(gw.url, b"GET /score HTTP/1.1\r\nx-big: " + b"a" * 20000 + b"\r\n\r\n")
    with connect(gw.url) as sock:  # the same head, trickled: counted across reads
        sock.sendall(b"GET /score HTTP/1.1\r\n")
        for _ in range(20):
            try:
                sock.sendall(b"x-more: " + b"b" * 1000 + b"\r\n")
            except OSError:
                break
            if answered(sock):
                break
        trickled = read_response(sock)
    fits = exchange(gw.url, _post(gw.keys.primary_key, b"x-fits: " + b"c" * 7000))

    for refused in (in_one_read, trickled):
        assert refused.status == 431
        assert refused.headers["connection"] == "close"
        assert refused.json()["error_code"] == "REQUEST_HEADER_TOO_LARGE"
        assert "larger than 8 KB" in refused.json()["message"]
        assert set(refused.json()) == {"error", "error_code", "message", "hint"}
    assert fits.status == 200
    assert len(blue.requests) == 1


def answered(sock: socket.socket) -> bool:
    """Whether an answer (or the end of the connection) is waiting on ``sock``."""
    sock.settimeout(0.02)
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except TimeoutError:
        return False
    finally:
        sock.settimeout(5)


def test_head_not_complete_at_the_deadline_is_408_and_an_idle_connection_is_closed(
        upstream, gateway):
    gw = gateway(_config(upstream("blue")), limits=HttpLimits(head_timeout_s=0.5))

    with connect(gw.url) as half, connect(gw.url) as idle:
        started = time.perf_counter()
        half.sendall(b"POST /score HTTP/1.1\r\nhost: gw\r\n")
        late = read_response(half, started=started)
        idle.setblocking(False)
        wait_until(lambda: closed_by_peer(idle), what="the idle connection to be closed",
                   timeout=2)
        idle_closed_after = time.perf_counter() - started

    assert late.status == 408
    assert late.json()["error_code"] == "REQUEST_TIMEOUT"
    assert "within 0.5 s" in late.json()["message"]
    assert 0.4 < late.seconds < 1.5
    assert idle_closed_after < 1.5
    # A kept-alive connection gets the deadline again for its next head only.
    assert gw.score().status_code == 200


def test_connection_past_the_cap_gets_503_in_json_and_the_cap_frees_up(upstream, gateway):
    gw = gateway(_config(upstream("blue")), limits=HttpLimits(max_connections=3))
    held = [connect(gw.url) for _ in range(3)]
    wait_until(lambda: gw.open_connections() == 3, what="three open connections")
    refused = exchange(gw.url, _post(gw.keys.primary_key))
    for sock in held:
        sock.close()
    wait_until(lambda: not gw.open_connections(), what="the held connections to close")
    admitted = exchange(gw.url, _post(gw.keys.primary_key))

    assert refused.status == 503
    assert refused.json()["error_code"] == "TOO_MANY_CONNECTIONS"
    assert refused.headers["connection"] == "close"
    assert refused.headers["retry-after"] == "1"
    assert admitted.status == 200


@pytest.mark.parametrize(("request_bytes", "reason"), [
    (b"GARBAGE\r\n\r\n", "not valid HTTP/1.1: Invalid method"),
    (b"GET /score HTTP/1.1\r\nno colon here\r\n\r\n", "not valid HTTP/1.1: Invalid header token"),
    (b"POST /score HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
     "not valid HTTP/1.1: Duplicate Content-Length"),
    (b"POST /score HTTP/1.1\r\ncontent-length: ten\r\n\r\n",
     "not valid HTTP/1.1: Invalid character in Content-Length"),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "HTTP/2; this server speaks HTTP/1.1 only"),
    (b"CONNECT example.com:443 HTTP/1.1\r\n\r\n", "could not be read"),
])
def test_unparsable_request_gets_400_in_the_json_error_shape(upstream, gateway,
                                                            request_bytes, reason):
    gw = gateway(_config(upstream("blue")))

    response = exchange(gw.url, request_bytes)

    assert response.status == 400
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error", "error_code", "message", "hint"}
    assert body["error_code"] == "BAD_REQUEST"
    assert reason in body["message"]


def test_half_open_connections_and_a_trickling_client_neither_delay_others_nor_outlive_the_deadline(
        upstream, gateway):
    deadline_s = 1.5
    gw = gateway(_config(upstream("blue")), limits=HttpLimits(head_timeout_s=deadline_s))

    def latencies(*, until: float) -> list[float]:
        """30 scores, or at least 10 and as many as fit before ``until`` (a loaded
        machine must not carry the measurement past the deadline)."""
        times: list[float] = []
        while len(times) < 30 and (len(times) < 10 or time.perf_counter() < until):
            started = time.perf_counter()
            assert gw.score().status_code == 200
            times.append(time.perf_counter() - started)
        return times

    baseline = statistics.median(latencies(until=time.perf_counter() + 10))
    opened = time.perf_counter()
    half_open = []
    for _ in range(500):
        sock = connect(gw.url)
        sock.sendall(b"POST /score HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\n")
        half_open.append(sock)
    trickled: dict[str, float] = {}
    stop = threading.Event()

    def trickle() -> None:  # one byte a second, of a head that would be valid
        with connect(gw.url) as sock:
            started = time.perf_counter()
            for byte in b"POST /score HTTP/1.1\r\nhost: gw\r\n\r\n":
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    break
                if stop.wait(1.0) or answered(sock):
                    break
            try:
                trickled["status"] = read_response(sock).status
            except (ConnectionError, OSError):
                trickled["status"] = 0
            trickled["seconds"] = time.perf_counter() - started

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    under_attack = statistics.median(latencies(until=opened + deadline_s / 2))
    open_while_measured = gw.open_connections()

    for sock in half_open:
        sock.setblocking(False)
    wait_until(lambda: all(closed_by_peer(sock) for sock in half_open),
               what="every half-open connection to be closed", timeout=deadline_s + 3)
    all_closed_after = time.perf_counter() - opened
    thread.join(timeout=deadline_s + 3)
    stop.set()
    for sock in half_open:
        sock.close()

    assert open_while_measured >= 501  # the 500 half-open ones and the measuring client
    assert under_attack - baseline < 0.010, (
        f"p50 {baseline * 1000:.2f} ms before, {under_attack * 1000:.2f} ms with 501 slow "
        "clients")
    assert all_closed_after < deadline_s + 1.5
    assert trickled["status"] == 408
    assert trickled["seconds"] < deadline_s + 1.5


def test_upgrade_request_is_served_as_http_1_1_without_a_warning(upstream, gateway, caplog):
    blue = upstream("blue")
    gw = gateway(_config(blue))
    upgrade = b"connection: upgrade\r\nupgrade: h2c"

    uvicorn_log = logging.getLogger("uvicorn")  # it does not propagate to the root
    uvicorn_log.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO):
            response = gw.client.get("/score", headers={"connection": "upgrade",
                                                         "upgrade": "websocket"})
            with connect(gw.url) as sock:  # a GET asking for h2c, then a pipelined POST
                sock.sendall(b"GET /score HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer "
                             + gw.keys.primary_key.encode() + b"\r\n" + upgrade + b"\r\n\r\n"
                             + _post(gw.keys.primary_key, body=b'{"n": 2}'))
                pipelined = [read_response(sock), read_response(sock)]
            # httptools reads no body after an upgrade head: refused, not misread.
            with_body = exchange(gw.url, _post(gw.keys.primary_key, upgrade,
                                               body=b"GET /smuggled HTTP/1.1\r\n\r\n"))
    finally:
        uvicorn_log.removeHandler(caplog.handler)

    assert response.status_code == 200
    assert [r.status for r in pipelined] == [200, 200]
    assert pipelined[1].json()["body"] == '{"n": 2}'
    assert with_body.status == 400
    assert "protocol upgrade and has a body" in with_body.json()["message"]
    assert "/smuggled" not in [r["path"] for r in blue.requests]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_limits_must_be_positive_and_say_which_one_is_wrong():
    with pytest.raises(ValidationError, match="head_timeout_s"):
        HttpLimits(head_timeout_s=0)
    with pytest.raises(ValidationError, match="max_head_bytes"):
        HttpLimits(max_head_bytes=100)
    limits = HttpLimits(max_head_bytes=4096, head_timeout_s=2.5, max_connections=10)
    assert HttpLimits.from_env(limits.to_env()) == limits
    assert HttpLimits.from_env({}) == HttpLimits()

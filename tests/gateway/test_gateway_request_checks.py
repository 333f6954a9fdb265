"""What the gateway decides from a request's head alone: HEAD has no body to wait for,
an announced body over the limit is refused before it is sent, and a credential or pin
given twice is refused instead of guessed."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from mlkube.gateway.auth import _b64
from tests.gateway.conftest import deployment
from tests.gateway.raw_client import connect, exchange, read_response
from tests.gateway.servers import SocketUpstream


def _config(*upstreams, **settings) -> dict:
    return {"endpoint": "iris", "traffic": {"blue": 100},
            "deployments": {"blue": deployment(*upstreams, **settings)}}


def _answer_head_without_length_and_keep_the_connection(connection) -> None:
    """An inference server's HEAD answer: no content-length (there is no body), and the
    connection kept open, so nothing but the method says the answer is complete. Each
    connection is served on its own thread, as a real server would."""

    def serve() -> None:
        with connection:
            data = b""
            while True:
                try:
                    chunk = connection.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                data += chunk
                while b"\r\n\r\n" in data:
                    _, _, data = data.partition(b"\r\n\r\n")
                    connection.sendall(b"HTTP/1.1 200 OK\r\n"
                                       b"content-type: application/json\r\n\r\n")

    threading.Thread(target=serve, daemon=True).start()


def test_head_answers_at_once_and_eight_concurrent_heads_leave_the_slots_free(gateway):
    upstream = SocketUpstream(_answer_head_without_length_and_keep_the_connection)
    try:
        gw = gateway(_config(upstream.url, request_timeout_ms=5000,
                             max_concurrent_requests_per_instance=8, max_queue_wait_ms=0))

        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            heads = list(pool.map(lambda _: gw.client.head("/score"), range(8)))
        elapsed = time.perf_counter() - started
    finally:
        upstream.stop()

    assert [r.status_code for r in heads] == [200] * 8
    assert elapsed < 2.0  # was 504 after request_timeout_ms (5 s) each
    assert "content-length" not in heads[0].headers  # 0 would claim an empty body
    assert heads[0].headers["azureml-model-deployment"] == "blue"
    assert set(httpx.get(gw.url + "/").json()["in_flight"].values()) == {0}  # slots freed


def test_head_keeps_the_length_a_get_would_get(upstream, gateway):
    blue = upstream("blue")
    gw = gateway(_config(blue))

    head = gw.client.head("/score")
    get = gw.client.get("/score")

    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"] != "0"


def test_body_announced_over_the_limit_is_413_before_it_is_sent(upstream, gateway):
    blue = upstream("blue")
    gw = gateway(_config(blue), max_body_bytes=1024 * 1024)
    head = (b"POST /score HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer "
            + gw.keys.primary_key.encode() + b"\r\ncontent-type: application/json\r\n"
            b"content-length: 209715200\r\n")

    plain = exchange(gw.url, head + b"\r\n")  # the head only: no byte of the 200 MB
    expecting = exchange(gw.url, head + b"expect: 100-continue\r\n\r\n")

    for refused in (plain, expecting):
        assert refused.status == 413  # for `expecting` the first answer: no 100 Continue
        assert refused.json()["error_code"] == "PAYLOAD_TOO_LARGE"
        assert "larger than the gateway's limit of 1 MB" in refused.json()["message"]
        assert refused.headers["connection"] == "close"  # the body is never drained
        assert refused.seconds < 2.0  # was no answer at all: the client timed out
    assert blue.requests == []


def test_expect_100_continue_within_the_limit_gets_continue_then_the_answer(upstream, gateway):
    blue = upstream("blue")
    gw = gateway(_config(blue))
    body = b'{"data": [[1, 2, 3, 4]]}'

    with connect(gw.url) as sock:
        sock.sendall(b"POST /score HTTP/1.1\r\nhost: gw\r\nauthorization: Bearer "
                     + gw.keys.primary_key.encode() + b"\r\ncontent-length: "
                     + str(len(body)).encode() + b"\r\nexpect: 100-continue\r\n\r\n")
        interim = sock.recv(65536)
        sock.sendall(body)
        answer = read_response(sock)

    assert interim.startswith(b"HTTP/1.1 100 Continue\r\n")
    assert answer.status == 200
    assert blue.requests[-1]["body"] == body


def test_refused_expect_100_continue_request_closes_the_connection(upstream, gateway):
    gw = gateway(_config(upstream("blue")))

    refused = exchange(gw.url, b"POST /score HTTP/1.1\r\nhost: gw\r\ncontent-length: 10\r\n"
                               b"expect: 100-continue\r\n\r\n")  # no credential

    # The client will not send the body it announced: the connection cannot carry on.
    assert refused.status == 401
    assert refused.headers["connection"] == "close"


def test_two_authorization_headers_are_refused_naming_the_cause(upstream, gateway):
    blue = upstream("blue")
    gw = gateway(_config(blue))
    key = gw.keys.primary_key.encode()

    for first, second in ((b"Bearer wrong", b"Bearer " + key), (b"Bearer " + key, b"Bearer x")):
        response = exchange(gw.url, b"POST /score HTTP/1.1\r\nhost: gw\r\nauthorization: "
                            + first + b"\r\nauthorization: " + second
                            + b"\r\ncontent-length: 2\r\n\r\n{}")
        assert response.status == 400
        body = response.json()
        assert body["error_code"] == "BAD_REQUEST"
        assert "more than one Authorization header" in body["message"]
        assert "exactly one" in body["hint"]
        assert key.decode() not in response.body.decode()
    pinned_twice = gw.client.post("/score", json={}, headers=[
        ("azureml-model-deployment", "blue"), ("azureml-model-deployment", "green")])
    assert pinned_twice.status_code == 400
    assert "azureml-model-deployment" in pinned_twice.json()["message"]
    assert blue.requests == []


def test_crafted_token_is_401_without_a_traceback(upstream, gateway, caplog):
    gw = gateway({**_config(upstream("blue")), "auth_mode": "aml_token"})
    nested = _b64(b'{"aud": ' + b"[" * 5000 + b"]" * 5000 + b"}")
    tokens = [
        b"eyJhbGciOiJIUzI1NiJ9." + nested + b".c2ln",  # RecursionError if parsed first
        b"a.b.c", b"....", b"\xff\xfe.\xfe.x", b"a.%%%%.b",
    ]

    with caplog.at_level(logging.INFO, logger="mlkube"):
        responses = [exchange(gw.url, b"POST /score HTTP/1.1\r\nhost: gw\r\nauthorization: "
                              b"Bearer " + token + b"\r\ncontent-length: 2\r\n\r\n{}")
                     for token in tokens]

    assert [r.status for r in responses] == [401] * len(tokens)
    assert {r.json()["error_code"] for r in responses} == {"UNAUTHORIZED"}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert " ERROR " not in (gw.log_text(caplog) if gw.native else "")

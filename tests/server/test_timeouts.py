"""A call that outlives SCORING_TIMEOUT_MS: the client gets its 504, and while the call
still holds the scoring thread the server says so, instead of queueing every next
request behind it into another 504.

Readiness answers 503 (so the gateway and Kubernetes route elsewhere), scoring answers
503 at once with Retry-After, the timeout is logged as a warning with the request ids,
and once the call returns the server is ready and scores again.
"""

from __future__ import annotations

import logging
import threading
import time

import httpx

from tests.server.conftest import wait_until
from tests.server.test_errors import assert_error

TIMEOUT_MS = 1000
READINESS = ("/", "/ready", "/ping", "/health", "/v2/health/ready")


def test_timed_out_call_makes_readiness_503_until_it_returns(script_server, caplog):
    server = script_server("behaviours.py", scoring_timeout_ms=TIMEOUT_MS)
    caplog.set_level(logging.WARNING, logger="mlkube.server")
    started = time.monotonic()
    response = server.client.post("/score", json={"sleep": 3.0},
                                  headers={"x-request-id": "probe-slow-1"})
    assert_error(response, 504, f"SCORING_TIMEOUT_MS={TIMEOUT_MS}")
    request_id = response.headers["x-ms-request-id"]

    for route in READINESS:
        answer = server.client.get(route)
        assert_error(answer, 503, "timed out", "still running")
    assert server.client.get("/v2/health/live").status_code == 200

    # The next request is not queued behind the stuck call for another 504.
    before = time.monotonic()
    busy = server.client.post("/score", json={"return": "init_calls"})
    assert time.monotonic() - before < 0.5
    assert_error(busy, 503, "timed out", "still running")
    assert busy.headers["retry-after"] == "1"

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING
                and request_id in r.getMessage()]
    assert warnings, [r.getMessage() for r in caplog.records]
    assert "probe-slow-1" in warnings[0].getMessage()
    assert str(TIMEOUT_MS) in warnings[0].getMessage()

    def ready() -> bool:
        return httpx.get(server.url + "/ready", timeout=5).status_code == 200

    wait_until(ready, timeout=10, what="readiness after the slow call returned")
    assert time.monotonic() - started > 2.5  # not before the call returned
    again = server.client.post("/score", json={"return": "init_calls"})
    assert again.status_code == 200, again.text


def test_each_request_times_out_after_its_own_limit_not_its_neighbours(script_server):
    # One timer serves every request's deadline (server/deadlines.py): requests sent
    # 0.4 s apart must each get their 504 a limit after they were sent, and a request
    # that finishes in time between them must get its answer.
    server = script_server("behaviours.py", scoring_timeout_ms=TIMEOUT_MS, scoring_threads=3)
    limit = TIMEOUT_MS / 1000
    outcomes: dict[str, tuple[int, float]] = {}

    def send(name: str, body: dict, delay: float) -> None:
        time.sleep(delay)
        sent = time.monotonic()
        answer = httpx.post(server.url + "/score", json=body, timeout=30)
        outcomes[name] = (answer.status_code, time.monotonic() - sent)

    threads = [threading.Thread(target=send, args=args) for args in (
        ("first", {"sleep": 2.5}, 0.0), ("quick", {"sleep": 0.2}, 0.2),
        ("second", {"sleep": 2.5}, 0.4))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes["quick"][0] == 200
    for name in ("first", "second"):
        status, elapsed = outcomes[name]
        assert status == 504, name
        assert limit - 0.05 <= elapsed <= limit + 0.4, (name, elapsed)
    wait_until(lambda: httpx.get(server.url + "/ready", timeout=5).status_code == 200,
               timeout=10, what="readiness after the slow calls returned")

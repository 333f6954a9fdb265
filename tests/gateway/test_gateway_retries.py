"""Instance restarts behind the gateway: what is retried on another instance, and what not.

A request that provably never reached a model (connection refused, reset before the
request was read, a stale kept-alive connection, 503 MODEL_NOT_READY) goes to another
instance of the deployment; anything the upstream may have processed is never resent.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.conftest import dead_url, deployment
from tests.gateway.restartable import NOT_READY, RestartableUpstream
from tests.gateway.servers import (
    SocketUpstream,
    close_after_reading,
    reset_before_reading,
    wait_until,
)


class ClientLoop:
    """Scores through the gateway in a loop on a thread; counts who answered and failures."""

    def __init__(self, url: str, key: str) -> None:
        self.served: Counter[str] = Counter()
        self.failures: list[str] = []
        self._client = httpx.Client(base_url=url, timeout=10,
                                    headers={"Authorization": f"Bearer {key}"})
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> ClientLoop:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                response = self._client.post("/score", json={"data": [[1, 2, 3, 4]]})
            except httpx.HTTPError as error:
                self.failures.append(f"{type(error).__name__}: {error}")
                continue
            if response.status_code == 200:
                self.served[response.json()["instance"]] += 1
            else:
                self.failures.append(f"{response.status_code}: {response.text[:300]}")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._client.close()


@pytest.fixture
def restartable() -> Iterator[list[RestartableUpstream]]:
    """Two restartable instances, ``a`` and ``b``; both are killed at the end."""
    instances = [RestartableUpstream("a").start(), RestartableUpstream("b").start()]
    yield instances
    for instance in instances:
        instance.kill()


def test_client_loop_sees_no_failure_while_an_instance_is_killed_and_restarts(
        restartable, gateway):
    a, b = restartable
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(
                      a.url, b.url, max_concurrent_requests_per_instance=4)}},
                 instance_cool_down_s=0.2)
    loops = [ClientLoop(gw.url, gw.keys.primary_key).start() for _ in range(2)]
    try:
        wait_until(lambda: all(loop.served["a"] > 20 for loop in loops),
                   what="both instances to serve the client loops")
        a.kill()  # its kept-alive connections die with it; new ones are refused
        before = sum(loop.served["b"] for loop in loops)
        wait_until(lambda: sum(loop.served["b"] for loop in loops) > before + 200,
                   what="the loops to go on while the instance is down", timeout=20)
        a.start(loading_s=1.0)  # back on its port, answering MODEL_NOT_READY for 1 s
        back = sum(loop.served["a"] for loop in loops)
        wait_until(lambda: sum(loop.served["a"] for loop in loops) > back + 20,
                   what="the restarted instance to rejoin after its cool-down", timeout=20)
    finally:
        for loop in loops:
            loop.stop()

    assert [loop.failures for loop in loops] == [[], []]
    metrics = gw.client.get("/metrics").text
    assert 'mlkube_gateway_retries_total{deployment="blue",reason="refused"}' in metrics
    assert 'mlkube_gateway_retries_total{deployment="blue",reason="not_ready"}' in metrics


def test_instance_answering_model_not_ready_is_skipped_for_the_other(upstream, gateway):
    loading, ready = upstream("blue"), upstream("blue")
    loading.status, loading.body = 503, NOT_READY
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(loading, ready)}})

    responses = [gw.score() for _ in range(10)]

    assert [r.status_code for r in responses] == [200] * 10
    assert {r.json()["deployment"] for r in responses} == {"blue"}
    assert len(ready.requests) == 10
    assert len(loading.requests) == 1  # then avoided for its cool-down (1 s by default)


def test_instance_is_tried_again_after_its_cool_down(upstream, gateway):
    loading, ready = upstream("blue"), upstream("blue")
    loading.status, loading.body = 503, NOT_READY
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(loading, ready)}},
                 instance_cool_down_s=0.1)
    assert gw.score().status_code == 200
    loading.status, loading.body = 200, None  # its model has loaded

    wait_until(lambda: gw.score().status_code == 200 and len(loading.requests) > 2,
               what="the recovered instance to get requests again")


def test_every_instance_refusing_answers_502_naming_the_deployment(gateway):
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(dead_url(), dead_url())}})

    response = gw.score()

    assert response.status_code == 502
    body = response.json()
    assert body["error_code"] == "BAD_GATEWAY"
    assert "Deployment 'blue' is not reachable: all 2 instances tried refused" in body["message"]
    assert "get-logs -n blue" in body["hint"]


def test_every_instance_loading_answers_503_model_not_ready_naming_the_deployment(
        upstream, gateway):
    first, second = upstream("blue"), upstream("blue")
    for instance in (first, second):
        instance.status, instance.body = 503, NOT_READY
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(first, second)}})

    response = gw.score()

    assert response.status_code == 503
    body = response.json()
    assert body["error_code"] == "MODEL_NOT_READY"
    assert "Deployment 'blue' is not ready" in body["message"]
    assert "The model is still loading" in body["message"]
    assert len(first.requests) == len(second.requests) == 1


def test_other_503_answers_pass_through_without_retry(upstream, gateway):
    overloaded, other = upstream("blue"), upstream("blue")
    overloaded.status = 503  # a 503 that is not MODEL_NOT_READY: the model may have run
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(overloaded, other)}})

    response = gw.score()

    assert response.status_code == 503
    assert response.json()["deployment"] == "blue"
    assert (len(overloaded.requests), len(other.requests)) == (1, 0)


def test_upstream_closing_after_reading_the_body_is_not_retried(upstream, gateway):
    closing, live = SocketUpstream(close_after_reading), upstream("blue")
    try:
        gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                      "deployments": {"blue": deployment(closing.url, live)}})

        response = gw.score()  # the first request goes to the first instance

        assert response.status_code == 502
        assert response.json()["error_code"] == "BAD_GATEWAY"
        assert "failed while scoring" in response.json()["message"]
        assert closing.connections == 1
        assert live.requests == []
    finally:
        closing.stop()


def test_connection_reset_before_the_request_is_read_is_retried_elsewhere(upstream, gateway):
    resetting, live = SocketUpstream(reset_before_reading), upstream("blue")
    try:
        gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                      "deployments": {"blue": deployment(resetting.url, live)}})

        response = gw.score()

        assert response.status_code == 200, response.text  # the text says why, if not
        assert resetting.connections == 1
        assert len(live.requests) == 1
    finally:
        resetting.stop()


def test_timeout_is_not_retried_on_another_instance(upstream, gateway):
    slow, other = upstream("blue"), upstream("blue")
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(slow, other, request_timeout_ms=300)}})

    response = gw.score(headers={"x-test-delay-ms": "1000"})

    assert response.status_code == 504
    assert len(slow.requests) + len(other.requests) == 1


def test_mirrored_copy_is_not_retried_on_another_instance(upstream, gateway):
    primary, mirror_live = upstream("blue"), upstream("green")
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100, "green": 0},
                  "mirror_traffic": {"green": 100},
                  "deployments": {"blue": deployment(primary),
                                  "green": deployment(dead_url(), mirror_live)}})

    assert gw.score().status_code == 200  # its copy goes to green's first, dead instance

    wait_until(lambda: 'outcome="unreachable"} 1' in gw.client.get("/metrics").text,
               what="the mirrored copy's outcome to be counted")
    assert mirror_live.requests == []

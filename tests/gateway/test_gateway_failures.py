"""What callers see when a deployment is busy, slow, failed or gone; and load balancing."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from tests.gateway.conftest import dead_url, deployment
from tests.gateway.servers import wait_until


def test_requests_beyond_capacity_get_429_when_queue_wait_is_zero(upstream, gateway):
    slow = upstream("slow")
    gw = gateway({"endpoint": "iris", "traffic": {"slow": 100},
                  "deployments": {"slow": deployment(
                      slow, max_concurrent_requests_per_instance=2, max_queue_wait_ms=0)}})

    with ThreadPoolExecutor(2) as pool:
        held = [pool.submit(gw.score, headers={"x-test-delay-ms": "1500"}) for _ in range(2)]
        wait_until(lambda: len(slow.requests) == 2, what="two requests in flight")
        rejected = [gw.score() for _ in range(2)]
        admitted = [future.result() for future in held]

    assert [r.status_code for r in admitted] == [200, 200]
    assert [r.status_code for r in rejected] == [429, 429]
    assert rejected[0].json()["error_code"] == "TOO_MANY_REQUESTS"
    assert "2 per instance x 1 instances" in rejected[0].json()["message"]
    assert rejected[0].headers["azureml-model-deployment"] == "slow"
    assert len(slow.requests) == 2
    assert gw.score().status_code == 200  # slots are free again


def test_request_over_capacity_waits_in_queue_up_to_max_queue_wait(upstream, gateway):
    slow = upstream("slow")
    gw = gateway({"endpoint": "iris", "traffic": {"slow": 100},
                  "deployments": {"slow": deployment(
                      slow, max_concurrent_requests_per_instance=1, max_queue_wait_ms=3000)}})

    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(lambda _: gw.score(headers={"x-test-delay-ms": "200"}),
                                  range(3)))

    assert [r.status_code for r in responses] == [200, 200, 200]


def test_slow_deployment_gets_504_after_its_request_timeout(upstream, gateway):
    slow = upstream("slow")
    gw = gateway({"endpoint": "iris", "traffic": {"slow": 100},
                  "deployments": {"slow": deployment(slow, request_timeout_ms=300)}})

    started = time.perf_counter()
    response = gw.score(headers={"x-test-delay-ms": "3000"})
    elapsed = time.perf_counter() - started

    assert response.status_code == 504
    assert response.json()["error_code"] == "SCORING_TIMEOUT"
    assert "request_timeout_ms=300" in response.json()["message"]
    assert elapsed < 2.0
    # The slot was given back: the next request goes through.
    assert gw.score().status_code == 200


def test_failed_deployment_gets_424_with_its_state_and_reason(upstream, gateway):
    gw = gateway({"endpoint": "iris", "traffic": {"broken": 100},
                  "deployments": {"broken": deployment(
                      dead_url(), state="Failed",
                      reason="init() raised ValueError: model file missing")}})

    response = gw.score()

    assert response.status_code == 424
    assert response.json()["error_code"] == "MODEL_CONTAINER_ERROR"
    assert "state Failed" in response.json()["message"]
    assert "init() raised ValueError: model file missing" in response.json()["message"]
    assert response.headers["azureml-model-deployment"] == "broken"


def test_updating_deployment_that_cannot_be_reached_gets_424(gateway):
    gw = gateway({"endpoint": "iris", "traffic": {"green": 100},
                  "deployments": {"green": deployment(dead_url(), state="Updating",
                                                      reason="0 of 1 instances ready")}})

    response = gw.score()

    assert response.status_code == 424
    assert "state Updating, 0 of 1 instances ready" in response.json()["message"]


def test_deployment_without_instances_gets_424(gateway):
    gw = gateway({"endpoint": "iris", "traffic": {"green": 100},
                  "deployments": {"green": {"instances": [], "state": "Creating"}}})

    assert gw.score().status_code == 424


def test_unreachable_succeeded_deployment_gets_502(gateway):
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(dead_url())}})

    response = gw.score()

    assert response.status_code == 502
    assert response.json()["error_code"] == "BAD_GATEWAY"
    assert "not reachable" in response.json()["message"]
    assert "get-logs" in response.json()["hint"]


def test_refused_instance_is_skipped_for_a_live_one(upstream, gateway):
    live = upstream("blue")
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(dead_url(), live,
                                                     max_concurrent_requests_per_instance=4)}})

    statuses = {gw.score().status_code for _ in range(10)}

    assert statuses == {200}


def test_instances_share_the_load(upstream, gateway):
    first, second = upstream("blue"), upstream("blue")
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(first, second)}})

    for _ in range(40):
        assert gw.score().status_code == 200

    assert len(first.requests) == len(second.requests) == 20


def test_upstream_errors_pass_through_with_their_status(upstream, gateway):
    failing = upstream("blue")
    failing.status = 500
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(failing)}})

    response = gw.score()

    assert response.status_code == 500
    assert response.json()["deployment"] == "blue"
    assert response.headers["azureml-model-deployment"] == "blue"

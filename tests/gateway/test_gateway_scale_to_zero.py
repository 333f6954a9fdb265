"""A deployment at zero instances: the gateway holds its requests until a config brings an
instance, refuses past the held limit (429) and the request timeout (503), and reports
what an autoscaler reads in ``GET /``."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.gateway.conftest import deployment
from tests.gateway.servers import wait_until


def _asleep(*upstreams: object, **settings: object) -> dict[str, object]:
    return deployment(*upstreams,  # type: ignore[arg-type]
                      **{"scale_to_zero": {"after_s": 30, "held_limit": 2}, **settings})


def test_a_held_request_is_answered_once_a_config_brings_an_instance(upstream, gateway):
    blue = upstream("blue")
    config = {"endpoint": "iris", "traffic": {"blue": 100},
              "deployments": {"blue": _asleep(request_timeout_ms=10_000)}}
    gw = gateway(config)
    with ThreadPoolExecutor(1) as pool:
        sent = time.monotonic()
        held = pool.submit(gw.score)
        wait_until(lambda: httpx.get(gw.url + "/").json()["held"]["blue"] == 1,
                   what="the request to be held")
        time.sleep(0.3)
        assert not held.done()  # held, not answered with an error
        gw.write_config({**config, "deployments": {"blue": _asleep(
            blue, request_timeout_ms=10_000)}})
        answer = held.result(timeout=10)
    assert answer.status_code == 200
    assert answer.headers["azureml-model-deployment"] == "blue"
    assert time.monotonic() - sent >= 0.3
    health = httpx.get(gw.url + "/").json()
    assert health["held"] == {"blue": 0}
    assert health["idle_s"]["blue"] < 5
    assert health["busy_s"]["blue"] > 0


def test_held_requests_past_the_limit_get_429_and_past_the_timeout_503(upstream, gateway):
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": _asleep(request_timeout_ms=4000)}})
    with ThreadPoolExecutor(3) as pool:
        held = [pool.submit(gw.score) for _ in range(2)]
        wait_until(lambda: httpx.get(gw.url + "/").json()["held"]["blue"] == 2,
                   what="two requests held")
        refused = gw.score()
        timed_out = [future.result(timeout=10) for future in held]
    assert refused.status_code == 429
    assert "holds 2 requests" in refused.json()["message"]
    for answer in timed_out:
        assert answer.status_code == 503
        body = answer.json()
        assert body["error_code"] == "DEPLOYMENT_STARTING"
        assert "request_timeout_ms=4000" in body["message"] and body["hint"]


def test_a_deployment_that_does_not_scale_to_zero_still_answers_424_without_instances(
        gateway):
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(state="Updating", reason="starting")}})
    answer = gw.score()
    assert answer.status_code == 424


def test_a_deployment_added_to_a_running_gateway_is_idle_from_then_not_from_its_start(
        upstream, gateway):
    """What scalers read: a deployment the gateway has just learned of must not look idle
    since the gateway started, or it would be put to sleep while it is being created."""
    gw = gateway({"endpoint": "iris", "traffic": {}, "deployments": {}})
    time.sleep(2.0)
    gw.wait_for_digest(gw.write_config({"endpoint": "iris", "traffic": {},
                                        "deployments": {"blue": _asleep(upstream("blue"))}}))
    assert httpx.get(gw.url + "/").json()["idle_s"]["blue"] < 1.5

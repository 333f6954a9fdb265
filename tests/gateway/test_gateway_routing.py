"""The gateway over real HTTP: auth, deployment choice, traffic split, mirroring, headers."""

from __future__ import annotations

import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from mlkube.gateway import issue_token
from mlkube.gateway.auth import regenerate_key
from tests.gateway.conftest import deployment
from tests.gateway.native import ENGINE
from tests.gateway.servers import wait_until


def test_gateway_forwards_score_and_names_the_deployment_that_answered(upstream, gateway):
    blue = upstream("blue")
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(blue)}})

    response = gw.score()

    assert response.status_code == 200
    assert response.json()["deployment"] == "blue"
    assert response.json()["body"] == '{"data":[[1,2,3,4]]}'
    assert response.headers["azureml-model-deployment"] == "blue"
    request_id = response.headers["x-request-id"]
    assert request_id and response.headers["x-ms-request-id"] == request_id
    received = blue.requests[-1]
    assert received["headers"]["x-request-id"] == request_id
    assert "authorization" not in received["headers"]  # the key stays at the gateway


def test_gateway_forwards_paths_and_queries_unchanged(upstream, gateway):
    blue = upstream("blue")
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(blue)}})

    for path in ("/invocations", "/v2/models/iris/infer", "/v2/health/ready"):
        response = gw.client.post(path + "?verbose=1", content=b"{}")
        assert response.status_code == 200
        assert response.json()["path"] == path
        assert response.json()["query"] == "verbose=1"


def test_gateway_echoes_the_callers_request_id(upstream, gateway):
    blue = upstream("blue")
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(blue)}})

    response = gw.score(headers={"x-request-id": "my-id-42"})

    assert response.headers["x-request-id"] == "my-id-42"
    assert blue.requests[-1]["headers"]["x-request-id"] == "my-id-42"
    too_long = gw.score(headers={"x-request-id": "x" * 101})
    assert too_long.status_code == 431
    assert too_long.json()["error_code"] == "REQUEST_HEADER_TOO_LARGE"


def test_gateway_rejects_missing_or_wrong_key_with_401_and_never_echoes_it(upstream, gateway):
    blue = upstream("blue")
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(blue)}})
    before = len(blue.requests)

    missing = httpx.post(gw.url + "/score", json={"data": [[1, 2, 3, 4]]})
    wrong = httpx.post(gw.url + "/score", json={"data": [[1, 2, 3, 4]]},
                       headers={"Authorization": "Bearer not-the-key-0123456789"})
    not_bearer = httpx.post(gw.url + "/score", headers={"Authorization": gw.keys.primary_key})

    assert missing.status_code == 401
    assert missing.json()["error_code"] == "UNAUTHORIZED"
    assert "Authorization header" in missing.json()["message"]
    assert missing.json()["hint"]
    assert wrong.status_code == 401
    assert "not-the-key" not in wrong.text
    assert not_bearer.status_code == 401
    assert gw.keys.primary_key not in not_bearer.text
    assert len(blue.requests) == before  # nothing unauthenticated went upstream
    secondary = httpx.post(gw.url + "/score", content=b"{}",
                           headers={"Authorization": f"Bearer {gw.keys.secondary_key}"})
    assert secondary.status_code == 200


def test_header_picks_deployment_regardless_of_weights_and_is_never_mirrored(upstream, gateway):
    blue, green = upstream("blue"), upstream("green")
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100, "green": 0},
                  "mirror_traffic": {"green": 50},
                  "deployments": {"blue": deployment(blue), "green": deployment(green)}})

    to_green = gw.score(headers={"azureml-model-deployment": "green"})
    pinned_blue = [gw.client.post("/score", content=b"pinned",
                                  headers={"azureml-model-deployment": "blue"})
                   for _ in range(40)]
    for _ in range(40):
        gw.client.post("/score", content=b"free")

    assert to_green.json()["deployment"] == "green"
    assert to_green.headers["azureml-model-deployment"] == "green"
    assert all(r.json()["deployment"] == "blue" for r in pinned_blue)
    wait_until(lambda: green.mirrored() > 0 and not gw.mirrors_in_flight(), what="mirrored copies")
    mirrored_bodies = {r["body"] for r in green.requests if r["headers"].get("x-mlkube-mirror")}
    assert mirrored_bodies == {b"free"}


def test_unknown_deployment_in_header_gets_404_naming_known_ones(upstream, gateway):
    blue = upstream("blue")
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(blue)}})

    response = gw.score(headers={"azureml-model-deployment": "purple"})

    assert response.status_code == 404
    assert "purple" in response.json()["message"]
    assert "Known deployments: blue" in response.json()["message"]


def test_endpoint_without_traffic_answers_404_saying_so(upstream, gateway):
    blue = upstream("blue")
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 0},
                  "deployments": {"blue": deployment(blue)}})

    response = gw.score()

    assert response.status_code == 404
    assert "no deployment with traffic" in response.json()["message"]
    assert "azureml-model-deployment" in response.json()["hint"]


def test_ninety_ten_split_holds_over_1000_requests(upstream, gateway):
    blue, green = upstream("blue"), upstream("green")
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 90, "green": 10},
                  "deployments": {"blue": deployment(blue, max_concurrent_requests_per_instance=8),
                                  "green": deployment(green,
                                                      max_concurrent_requests_per_instance=8)}},
                 seed=None)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: gw.score().headers["azureml-model-deployment"],
                                range(1000)))

    assert 860 <= answers.count("blue") <= 940
    assert answers.count("blue") + answers.count("green") == 1000


def test_mirror_gets_its_share_and_caller_never_sees_its_errors_or_delay(upstream, gateway):
    blue, shadow = upstream("blue"), upstream("shadow")
    shadow.status, shadow.delay_s = 500, 2.0
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100}, "mirror_traffic": {"shadow": 20},
                  "deployments": {"blue": deployment(blue),
                                  "shadow": deployment(shadow,
                                                       max_concurrent_requests_per_instance=500)}},
                 seed=None)

    latencies = []
    for _ in range(300):
        started = time.perf_counter()
        response = gw.score()
        latencies.append(time.perf_counter() - started)
        assert response.status_code == 200
        assert response.headers["azureml-model-deployment"] == "blue"

    assert max(latencies) < shadow.delay_s / 2  # never waited for the slow mirror
    assert sorted(latencies)[len(latencies) // 2] < 0.05
    # 20 % of 300 = 60 copies expected; a binomial sd is ~7.
    wait_until(lambda: shadow.mirrored() >= 35 and not gw.mirrors_in_flight(), what="mirror copies",
               timeout=15)
    assert 35 <= shadow.mirrored() <= 85
    assert shadow.mirrored() == len(shadow.requests)
    assert len(blue.requests) == 300
    metrics = httpx.get(gw.url + "/metrics").text
    assert f'mlkube_gateway_mirrored_requests_total{{deployment="shadow",outcome="500"}} ' \
           f'{shadow.mirrored()}' in metrics


def test_traffic_change_takes_effect_without_restart(upstream, gateway):
    blue, green = upstream("blue"), upstream("green")
    config = {"endpoint": "iris", "traffic": {"blue": 100, "green": 0},
              "deployments": {"blue": deployment(blue), "green": deployment(green)}}
    gw = gateway(config)
    assert gw.score().headers["azureml-model-deployment"] == "blue"

    digest = gw.write_config({**config, "traffic": {"blue": 0, "green": 100}})
    gw.wait_for_digest(digest)

    answers = {gw.score().headers["azureml-model-deployment"] for _ in range(30)}
    assert answers == {"green"}


def test_regenerated_key_invalidates_the_old_one_without_restart(upstream, gateway):
    blue = upstream("blue")
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(blue)}})
    old = gw.keys.primary_key
    assert gw.score().status_code == 200
    old_fingerprint = httpx.get(gw.url + "/").json()["keys_fingerprint"]

    new_keys = regenerate_key(gw.keys, "primary")
    gw.write_keys(new_keys)

    wait_until(lambda: gw.score().status_code == 401, what="the old key to be refused")
    # Health (no auth) tells which keys are in use, and never a key itself.
    health = httpx.get(gw.url + "/").text
    assert new_keys.fingerprint in health and new_keys.fingerprint != old_fingerprint
    assert new_keys.primary_key not in health and new_keys.secondary_key not in health
    fresh = httpx.post(gw.url + "/score", content=b"{}",
                       headers={"Authorization": f"Bearer {new_keys.primary_key}"})
    assert fresh.status_code == 200
    assert new_keys.primary_key != old
    still = httpx.post(gw.url + "/score", content=b"{}",
                       headers={"Authorization": f"Bearer {new_keys.secondary_key}"})
    assert still.status_code == 200  # regenerating primary leaves secondary alone


def test_token_endpoint_accepts_fresh_tokens_and_rejects_expired_ones_and_keys(upstream, gateway):
    blue = upstream("blue")
    gw = gateway({"endpoint": "iris", "auth_mode": "aml_token", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(blue)}})
    signing_key = gw.keys.token_signing_key

    fresh = issue_token(signing_key, "iris")
    expired = issue_token(signing_key, "iris", now=time.time() - 7200)
    other_endpoint = issue_token(signing_key, "other")

    def call(credential: str) -> httpx.Response:
        return httpx.post(gw.url + "/score", content=b"{}",
                          headers={"Authorization": f"Bearer {credential}"})

    assert call(fresh.access_token).status_code == 200
    assert call(expired.access_token).status_code == 401
    assert "expired" in call(expired.access_token).json()["message"]
    assert call(other_endpoint.access_token).status_code == 401
    assert call(gw.keys.primary_key).status_code == 401  # keys do not work in token mode


def test_swagger_json_comes_from_a_deployment_with_traffic(upstream, gateway):
    blue, green = upstream("blue"), upstream("green")
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 0, "green": 100},
                  "deployments": {"blue": deployment(blue), "green": deployment(green)}})

    response = gw.client.get("/swagger.json")

    assert response.status_code == 200
    assert response.json()["info"]["title"] == "green"


def test_health_and_metrics_need_no_key(upstream, gateway):
    blue = upstream("blue")
    config = {"endpoint": "iris", "traffic": {"blue": 100},
              "deployments": {"blue": deployment(blue)}}
    gw = gateway(config)
    gw.score()
    httpx.post(gw.url + "/score")

    health = httpx.get(gw.url + "/")
    metrics = httpx.get(gw.url + "/metrics")

    assert health.status_code == 200
    assert health.json()["status"] == "Healthy"
    assert health.json()["engine"] == ENGINE  # which program answers: python or native
    assert health.json()["config_digest"] == gw.digest
    assert health.json()["replica"] == socket.gethostname()  # the pod, on Kubernetes
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'mlkube_gateway_requests_total{deployment="blue",code="200"} 1' in metrics.text
    assert 'mlkube_gateway_requests_total{deployment="",code="401"} 1' in metrics.text
    # 8 in flight per instance (the default) x 1 instance.
    assert 'mlkube_gateway_capacity{deployment="blue"} 8' in metrics.text


def test_access_log_has_request_id_deployment_status_latency_never_the_key(
        upstream, gateway, caplog):
    blue = upstream("blue")
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(blue)}})
    caplog.set_level(logging.DEBUG, logger="mlkube.gateway")

    gw.score(headers={"x-request-id": "trace-me-1"})
    httpx.post(gw.url + "/score", headers={"Authorization": "Bearer wrong-key-abcdefgh"})

    wait_until(lambda: "status=401" in gw.access_log.getvalue(), what="the access lines")
    lines = gw.access_log.getvalue().splitlines()
    ok = next(line for line in lines if "trace-me-1" in line)
    assert "POST /score" in ok and "deployment=blue" in ok and "status=200" in ok
    assert "latency_ms=" in ok
    everything = gw.access_log.getvalue() + gw.log_text(caplog)
    assert gw.keys.primary_key not in everything
    assert "wrong-key-abcdefgh" not in everything


def test_bad_config_change_keeps_the_last_good_one_and_logs_why(upstream, gateway, caplog):
    blue = upstream("blue")
    config = {"endpoint": "iris", "traffic": {"blue": 100},
              "deployments": {"blue": deployment(blue)}}
    gw = gateway(config)
    caplog.set_level(logging.ERROR, logger="mlkube.gateway")

    gw.write_config({**config, "traffic": {"blue": 60}})

    wait_until(lambda: "adds up to 60" in gw.log_text(caplog), what="the refusal to be logged")
    assert gw.score().status_code == 200
    gw.config_path.write_text("{not json")
    # The native engine reads JSON only (targets write JSON) and says so.
    refusal = "is not JSON" if gw.native else "neither JSON nor YAML"
    wait_until(lambda: refusal in gw.log_text(caplog), what="the parse error log")
    assert gw.score().status_code == 200


def test_head_through_the_gateway_answers_headers_without_waiting_for_a_body(
        upstream, gateway):
    blue = upstream("blue")
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(blue, request_timeout_ms=3000)}})
    full = gw.client.get("/swagger.json")

    started = time.monotonic()
    head = gw.client.head("/swagger.json")

    assert head.status_code == 200, head.text
    assert time.monotonic() - started < 2  # not held until request_timeout_ms
    assert head.content == b""
    assert head.headers["content-length"] == str(len(full.content))
    assert head.headers["azureml-model-deployment"] == "blue"
    assert blue.requests[-1]["method"] == "HEAD"
    assert gw.score().status_code == 200  # the next request is not confused by it


def test_options_through_the_gateway_reaches_the_deployment(upstream, gateway):
    blue = upstream("blue")
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(blue)}})

    response = gw.client.options("/score")

    assert response.status_code == 200
    assert response.json()["deployment"] == "blue"
    assert blue.requests[-1]["method"] == "OPTIONS"
    assert blue.requests[-1]["body"] == b""
    assert httpx.options(gw.url + "/score").status_code == 401  # the key is still needed

"""Config and keys files change under a running gateway, as each target changes them."""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from mlkube.gateway import load_gateway_config
from tests.gateway.conftest import deployment
from tests.gateway.servers import wait_until


def test_configmap_style_symlink_swap_is_picked_up(upstream, gateway, tmp_path):
    """Kubernetes updates a mounted ConfigMap by re-pointing the ``..data`` symlink."""
    blue, green = upstream("blue"), upstream("green")
    config = {"endpoint": "iris", "traffic": {"blue": 100, "green": 0},
              "deployments": {"blue": deployment(blue), "green": deployment(green)}}
    gw = gateway(config)
    mount = tmp_path / "mount"
    mount.mkdir()
    first, second = mount / "..2026_01", mount / "..2026_02"
    first.mkdir()
    second.mkdir()
    (first / "gateway.json").write_text(json.dumps(config))
    os.symlink("..2026_01", mount / "..data")
    os.symlink("..data/gateway.json", mount / "gateway.json")
    gw.config_path.unlink()
    os.symlink(mount / "gateway.json", gw.config_path)

    swapped = {**config, "traffic": {"blue": 0, "green": 100}}
    (second / "gateway.json").write_text(json.dumps(swapped))
    before = os.stat(first / "gateway.json")
    os.utime(second / "gateway.json", ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime
    os.symlink("..2026_02", mount / "..data_tmp")
    os.replace(mount / "..data_tmp", mount / "..data")

    gw.wait_for_digest(load_gateway_config(json.dumps(swapped)).digest)
    assert gw.score().headers["azureml-model-deployment"] == "green"


def test_vanished_config_file_keeps_the_gateway_serving(upstream, gateway, caplog):
    blue = upstream("blue")
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(blue)}})

    gw.config_path.unlink()

    wait_until(lambda: "cannot be read" in gw.log_text(caplog), what="the warning")
    assert gw.score().status_code == 200


def test_request_body_over_the_limit_gets_413(upstream, gateway):
    blue = upstream("blue")
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(blue)}}, max_body_bytes=1024)

    response = gw.client.post("/score", content=b"x" * 4096)

    assert response.status_code == 413
    assert response.json()["error_code"] == "PAYLOAD_TOO_LARGE"
    assert len(blue.requests) == 0
    assert gw.client.post("/score", content=b"x" * 512).status_code == 200


def test_blue_green_shift_under_steady_traffic_fails_no_request(upstream, gateway):
    """Route 100 % blue, add green at 10 %, shift to 100 % green, drop blue: all 200."""
    blue, green = upstream("blue"), upstream("green")
    settings = {"max_concurrent_requests_per_instance": 4, "max_queue_wait_ms": 2000}
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100},
                  "deployments": {"blue": deployment(blue, **settings)}}, seed=None)
    statuses: list[int] = []
    answered: set[str] = set()
    stop = threading.Event()

    def steady_traffic() -> None:
        with httpx.Client(base_url=gw.url, headers=gw.client.headers, timeout=10) as client:
            while not stop.is_set():
                response = client.post("/score", content=b"{}")
                statuses.append(response.status_code)
                answered.add(response.headers.get("azureml-model-deployment", ""))

    both = {"blue": deployment(blue, **settings), "green": deployment(green, **settings)}
    steps = [
        {"endpoint": "iris", "traffic": {"blue": 90, "green": 10}, "deployments": both},
        {"endpoint": "iris", "traffic": {"blue": 0, "green": 100}, "deployments": both},
        {"endpoint": "iris", "traffic": {"green": 100},
         "deployments": {"green": deployment(green, **settings)}},
    ]
    worker = threading.Thread(target=steady_traffic)
    worker.start()
    try:
        for step in steps:
            gw.wait_for_digest(gw.write_config(step))
            seen = len(statuses)
            wait_until(lambda seen=seen: len(statuses) > seen + 50, what="traffic on this step")
    finally:
        stop.set()
        worker.join(timeout=15)

    assert set(statuses) == {200}
    assert answered == {"blue", "green"}
    health = httpx.get(gw.url + "/").json()
    assert health["in_flight"].get("blue", 0) == 0  # blue may be stopped now
    assert health["traffic"] == {"green": 100}


def test_health_counts_requests_a_removed_deployment_still_serves(upstream, gateway):
    blue, green = upstream("blue"), upstream("green")
    both = {"blue": deployment(blue), "green": deployment(green)}
    gw = gateway({"endpoint": "iris", "traffic": {"blue": 100}, "deployments": both})

    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(gw.score, headers={"x-test-delay-ms": "1500"})
        wait_until(lambda: len(blue.requests) == 1, what="the slow request to reach blue")
        gw.wait_for_digest(gw.write_config({"endpoint": "iris", "traffic": {"green": 100},
                                            "deployments": {"green": deployment(green)}}))

        assert httpx.get(gw.url + "/").json()["in_flight"] == {"blue": 1, "green": 0}
        assert slow.result().status_code == 200

    assert httpx.get(gw.url + "/").json()["in_flight"] == {"green": 0}


def test_keys_others_can_read_are_warned_of_but_a_secret_mount_for_the_pods_group_is_not(
        upstream, gateway, caplog):
    blue = upstream("blue")
    config = {"endpoint": "iris", "traffic": {"blue": 100},
              "deployments": {"blue": deployment(blue)}}
    # As Kubernetes mounts a Secret for a pod with fsGroup: 0440, group the gateway's own.
    own_group = gateway(config, keys_mode=0o440)
    assert own_group.score().status_code == 200
    assert "readable by other users" not in own_group.log_text(caplog)

    world = gateway(config, keys_mode=0o604)
    wait_until(lambda: "readable by other users (mode 604); chmod 600 it"
               in world.log_text(caplog), what="the warning")
    assert world.score().status_code == 200

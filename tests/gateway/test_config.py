"""The gateway config file: what targets write and what the gateway accepts."""

from __future__ import annotations

import json

import pytest

from mlkube.errors import ValidationError
from mlkube.gateway import DeploymentRoute, GatewayConfig, dump_gateway_config, load_gateway_config
from tests.gateway.native import python_only

pytestmark = python_only("unit tests of mlkube.gateway.config (the Go engine has its own "
                         "`go test` in gateway-native/)")


def _config(**overrides):
    base = {"endpoint": "iris", "auth_mode": "key", "traffic": {"blue": 90, "green": 10},
            "mirror_traffic": {"green": 10},
            "deployments": {"blue": {"instances": ["http://127.0.0.1:5001/"]},
                            "green": {"instances": ["http://green.ns.svc:5001"],
                                      "request_timeout_ms": 100,
                                      "max_concurrent_requests_per_instance": 4,
                                      "max_queue_wait_ms": 0,
                                      "state": "Updating", "reason": "rolling"}}}
    base.update(overrides)
    return base


def test_config_loads_with_the_default_request_settings():
    # Azure ML's, except 8 requests in flight per instance (mlkube.request_defaults).
    config = load_gateway_config(json.dumps(_config()))

    blue = config.deployments["blue"]
    assert blue.instances == ("http://127.0.0.1:5001",)
    assert (blue.request_timeout_ms, blue.max_concurrent_requests_per_instance,
            blue.max_queue_wait_ms, blue.state) == (5000, 8, 500, "Succeeded")
    green = config.deployments["green"]
    assert green.capacity == 4 and green.state == "Updating" and green.reason == "rolling"
    assert config.traffic == {"blue": 90, "green": 10}
    assert config.mirror_traffic == {"green": 10}


def test_service_url_fronting_several_pods_counts_them_in_capacity():
    text = json.dumps(_config(deployments={
        "blue": {"instances": ["http://blue-svc:5001"], "instance_count": 3,
                 "max_concurrent_requests_per_instance": 2},
        "green": {"instances": []}}))

    config = load_gateway_config(text)

    assert config.deployments["blue"].capacity == 6
    assert config.deployments["green"].capacity == 0
    assert load_gateway_config(dump_gateway_config(config)) == config


def test_config_accepts_yaml_written_by_hand():
    text = "endpoint: iris\ntraffic: {blue: 100}\ndeployments:\n  blue:\n" \
           "    instances: [http://127.0.0.1:5001]\n"

    assert load_gateway_config(text).traffic == {"blue": 100}


def test_dumped_config_loads_back_equal_with_the_same_digest():
    config = GatewayConfig(endpoint="iris", auth_mode="aml_token", traffic={"blue": 100},
                           deployments={"blue": DeploymentRoute("blue", ("http://h:1",))})

    loaded = load_gateway_config(dump_gateway_config(config))

    assert loaded == config
    assert loaded.digest == config.digest
    reordered = json.dumps(dict(reversed(list(config.to_dict().items()))))
    assert load_gateway_config(reordered).digest == config.digest


@pytest.mark.parametrize(("change", "names", "fix"), [
    ({"traffic": {"blue": 50, "green": 10}}, "traffic adds up to 60", "add up to 100"),
    ({"traffic": {"blue": 100, "red": 0}}, "traffic.red names a deployment", "known: blue"),
    ({"mirror_traffic": {"green": 101}}, "mirror_traffic.green is 101", "between 0 and 100"),
    ({"auth_mode": "none"}, "auth_mode is 'none'", "aml_token"),
    ({"endpoint": ""}, "endpoint must be", '"endpoint"'),
    ({"colour": "red"}, "colour is not a gateway config field", "deployments"),
    ({"deployments": {"blue": {"instances": ["https://h:1"]},
                      "green": {"instances": []}}}, "deployments.blue.instances has", "http://"),
    ({"deployments": {"blue": {"instances": ["http://h:99999"]},
                      "green": {"instances": []}}}, "port is not a number", "HOST:PORT"),
    ({"deployments": {"blue": {"instances": [], "state": "Broken"}, "green": {"instances": []}}},
     "deployments.blue.state is 'Broken'", "provisioning state"),
    ({"deployments": {"blue": {"instances": ["http://h:1"], "instance_count": 0},
                      "green": {"instances": []}}}, "blue.instance_count is 0", "whole number"),
    ({"deployments": {"blue": {"instances": [], "request_timeout_ms": 0},
                      "green": {"instances": []}}},
     "deployments.blue.request_timeout_ms is 0", "5000"),
])
def test_invalid_config_names_the_field_and_the_fix(change, names, fix):
    with pytest.raises(ValidationError) as caught:
        load_gateway_config(json.dumps(_config(**change)), source="gw.json")

    assert names in caught.value.message
    assert caught.value.message.startswith("gw.json")
    assert fix in caught.value.hint


def test_config_that_is_not_an_object_is_refused_with_a_hint():
    with pytest.raises(ValidationError) as caught:
        load_gateway_config("[1, 2]")
    assert "one JSON object" in caught.value.message
    with pytest.raises(ValidationError, match="neither JSON nor YAML"):
        load_gateway_config("{endpoint: [unclosed")

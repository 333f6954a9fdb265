"""Online endpoints load from Azure ML v2 YAML unchanged and refuse bad specs clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlkube.entities.online_endpoint import (
    KubernetesOnlineEndpoint,
    ManagedOnlineEndpoint,
    OnlineEndpoint,
    load_online_endpoint,
)
from mlkube.errors import ValidationError

YAML = Path(__file__).parent / "yaml"


def test_managed_endpoint_yaml_with_schema_line_loads() -> None:
    endpoint = load_online_endpoint(YAML / "managed-endpoint.yml")
    assert isinstance(endpoint, ManagedOnlineEndpoint)
    assert (endpoint.name, endpoint.auth_mode, endpoint.traffic) == ("my-endpoint", "key", {})
    assert endpoint.target == "local"


def test_kubernetes_endpoint_yaml_loads_with_azure_spellings() -> None:
    # Azure's own example writes `auth_mode: Key` and `compute: azureml:<name>`.
    endpoint = load_online_endpoint(YAML / "kubernetes-endpoint.yml")
    assert isinstance(endpoint, KubernetesOnlineEndpoint)
    assert endpoint.auth_mode == "key"
    assert endpoint.compute == "inferencecompute"
    assert endpoint.target == "kubernetes"
    assert endpoint.tags == {"tag1": "endpoint-tag1-value"}


def test_traffic_and_mirror_load_and_survive_a_round_trip(tmp_path: Path) -> None:
    endpoint = load_online_endpoint(YAML / "blue-green-endpoint.yml")
    assert endpoint.traffic == {"blue": 90, "green": 10}
    assert endpoint.mirror_traffic == {"green": 20}
    assert endpoint.auth_mode == "aml_token"
    endpoint.dump(tmp_path / "again.yml")
    assert load_online_endpoint(tmp_path / "again.yml") == endpoint


def test_compute_local_or_docker_picks_a_machine_target() -> None:
    assert OnlineEndpoint.from_dict({"name": "iris", "compute": "docker"}).target == "docker"
    assert isinstance(OnlineEndpoint.from_dict({"name": "iris", "compute": "local"}),
                      ManagedOnlineEndpoint)
    assert isinstance(OnlineEndpoint.from_dict({"name": "iris", "type": "kubernetes"}),
                      KubernetesOnlineEndpoint)


def test_set_overrides_and_params_override_apply_before_validation() -> None:
    endpoint = load_online_endpoint(YAML / "managed-endpoint.yml",
                                    overrides=["traffic.blue=100", "auth_mode=aml_token"])
    assert endpoint.traffic == {"blue": 100} and endpoint.auth_mode == "aml_token"
    renamed = load_online_endpoint(YAML / "managed-endpoint.yml",
                                   params_override=[{"name": "other-endpoint"}])
    assert renamed.name == "other-endpoint"


def test_python_construction_and_assignment_work_as_in_azure_ml() -> None:
    endpoint = ManagedOnlineEndpoint(name="iris-endpoint", auth_mode="key")
    endpoint.traffic = {"blue": 100}
    assert endpoint.traffic == {"blue": 100}
    with pytest.raises(ValidationError, match="traffic adds up to 90 %"):
        endpoint.traffic = {"blue": 90}


@pytest.mark.parametrize(("yaml_text", "field", "rule"), [
    ("name: ab\n", "name", "has 2 characters; use 3 to 32"),
    ("name: " + "a" * 33 + "\n", "name", "has 33 characters"),
    ("name: 1iris\n", "name", "must start with a letter"),
    ("name: iris_endpoint\n", "name", "hold only letters, digits and '-'"),
    ("name: iris-\n", "name", "end with a letter or digit"),
    ("name: iris\nauth_mode: aad_token\n", "auth_mode", "needs Azure; use 'key'"),
    ("name: iris\nauth_mode: password\n", "auth_mode", "'key' or 'aml_token'"),
    ("name: iris\ntraffic: {blue: 90}\n", "traffic", "adds up to 90 %"),
    ("name: iris\ntraffic: {blue: 110, green: -10}\n", "traffic", "whole percent 0-100"),
    ("name: iris\ntraffic: {blue: 50.5, green: 49.5}\n", "traffic", "whole percent 0-100"),
    ("name: iris\nmirror_traffic: {green: 60}\n", "mirror_traffic", "at most 50 %"),
    ("name: iris\nmirror_traffic: {green: 10, red: 10}\n", "mirror_traffic",
     "mirror to one deployment only"),
    ("name: iris\nendpoint_url: http://x\n", "endpoint_url", "is not a known field"),
    ("auth_mode: key\n", "name", "is required"),
])
def test_each_endpoint_rule_fails_with_file_field_and_rule(
    tmp_path: Path, yaml_text: str, field: str, rule: str
) -> None:
    spec = tmp_path / "endpoint.yml"
    spec.write_text(yaml_text)
    with pytest.raises(ValidationError) as caught:
        load_online_endpoint(spec)
    message = caught.value.message
    assert str(spec) in message
    assert f"  {field}: " in message
    assert rule in message
    assert caught.value.hint


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    spec = tmp_path / "endpoint.yml"
    spec.write_text("name: iris\ntraffic:\n  blue: [100\n")
    with pytest.raises(ValidationError, match=r"endpoint.yml is not valid YAML at line"):
        load_online_endpoint(spec)


def test_an_update_without_traffic_keeps_it_and_never_stores_read_only_fields():
    from mlkube.entities.online_endpoint import ManagedOnlineEndpoint

    previous = ManagedOnlineEndpoint(name="iris", traffic={"blue": 100},
                                     mirror_traffic={"green": 10})
    update = ManagedOnlineEndpoint(name="iris", description="new text",
                                   scoring_uri="http://elsewhere/score")
    spec = update.stored_spec(previous=previous)
    assert spec["traffic"] == {"blue": 100} and spec["mirror_traffic"] == {"green": 10}
    assert spec["description"] == "new text"
    assert "scoring_uri" not in spec
    shifted = ManagedOnlineEndpoint(name="iris", traffic={})
    assert shifted.stored_spec(previous=previous).get("traffic", {}) == {}


def test_endpoint_rules_name_the_deployment_and_the_fix():
    import pytest

    from mlkube.entities.online_endpoint import ManagedOnlineEndpoint
    from mlkube.errors import ConflictError, ValidationError

    endpoint = ManagedOnlineEndpoint(name="iris", traffic={"blue": 100})
    with pytest.raises(ValidationError, match="names deployment blue, which does not exist"):
        endpoint.check_traffic_names(["green"])
    endpoint.check_traffic_names(["blue"])
    with pytest.raises(ConflictError, match="blue still gets 100 %"):
        endpoint.check_deployment_removable("blue")
    endpoint.check_deployment_removable("green")
    with pytest.raises(ValidationError, match="only key-mode"):
        ManagedOnlineEndpoint(name="iris", auth_mode="aml_token").check_keys_regenerable()


def test_an_endpoint_shows_every_deployment_in_its_traffic_as_azure_does():
    endpoint = ManagedOnlineEndpoint(name="iris", traffic={"blue": 100})
    shown = endpoint.showing_deployments(["green", "blue"])
    assert shown.traffic == {"blue": 100, "green": 0}
    # A script's "route to the new deployment if it has none" check works on it.
    assert shown.traffic.get("green") == 0
    # Entries of deployments that are gone drop out.
    assert ManagedOnlineEndpoint(name="iris", traffic={"old": 0}).showing_deployments(
        []).traffic == {}

"""The HTTP contract shared by every mode: health, request ids, swagger, metrics, v2."""

from __future__ import annotations

import uuid

import numpy as np


def test_liveness_is_healthy_and_readiness_ready(iris_server):
    response = iris_server.client.get("/")
    assert (response.status_code, response.text) == (200, "Healthy")
    for route in ("/ready", "/ping", "/health", "/v2/health/ready"):
        assert iris_server.client.get(route).status_code == 200
    assert iris_server.client.get("/v2/health/live").json() == {"live": True}


def test_every_response_has_a_new_request_id_and_echoes_client_ids(iris_server):
    first = iris_server.client.get("/")
    second = iris_server.client.post("/score", json={"nope": 1})
    ids = {first.headers["x-ms-request-id"], second.headers["x-ms-request-id"]}
    assert len(ids) == 2 and all(uuid.UUID(i) for i in ids)
    response = iris_server.client.post(
        "/score", json={"data": [[1, 2, 3, 4]]},
        headers={"x-request-id": "trace-42", "x-ms-client-request-id": "client-7"})
    assert response.headers["x-request-id"] == "trace-42"
    assert response.headers["x-ms-client-request-id"] == "client-7"
    assert "x-ms-run-fn-exec-ms" in response.headers


def test_request_id_over_100_characters_is_431(iris_server):
    response = iris_server.client.post("/score", json={"data": [[1, 2, 3, 4]]},
                                       headers={"x-request-id": "x" * 101})
    assert response.status_code == 431
    assert "100 characters" in response.json()["message"]


def test_swagger_has_a_request_example_that_scores(iris_server):
    document = iris_server.client.get("/swagger.json").json()
    assert document["openapi"].startswith("3.")
    example = document["paths"]["/score"]["post"]["requestBody"]["content"][
        "application/json"]["example"]
    assert example["input_data"]["columns"] == ["sepal_length", "sepal_width",
                                                "petal_length", "petal_width"]
    response = iris_server.client.post("/score", json=example)
    assert response.status_code == 200
    assert np.asarray(response.json()).shape == (len(example["input_data"]["data"]), 3)
    swagger2 = iris_server.client.get("/swagger.json", params={"version": "2"}).json()
    assert swagger2["swagger"] == "2.0"
    assert swagger2["definitions"]["ServiceInput"]["example"] == example


def test_swagger_example_for_tensor_model_scores(tensor_server):
    document = tensor_server.client.get("/swagger.json").json()
    example = document["components"]["schemas"]["ServiceInput"]["example"]
    assert example == {"input_data": [[1.0, 2.0, 3.0]]}
    assert tensor_server.client.post("/score", json=example).json() == [6.0]


def test_metrics_count_requests_by_route_and_status(start_server, iris_lgbm_model_root):
    server = start_server(model_dir=str(iris_lgbm_model_root))
    for _ in range(3):
        server.client.post("/score", json={"data": [[1, 2, 3, 4]]})
    server.client.post("/score", json={"data": [[1, 2]]})
    server.client.post("/invocations", json={"data": [[1, 2, 3, 4]]})
    text = server.client.get("/metrics").text
    assert 'mlkube_requests_total{route="/score",status="200"} 3' in text
    assert 'mlkube_requests_total{route="/score",status="400"} 1' in text
    assert 'mlkube_requests_total{route="/invocations",status="200"} 1' in text
    assert 'mlkube_request_duration_seconds_count{route="/score"} 4' in text
    assert "mlkube_predict_duration_seconds_count 4" in text
    assert "# TYPE mlkube_batch_size histogram" in text


def test_v2_model_metadata_describes_the_signature(iris_server, tensor_server):
    name = iris_server.app.scorer.name
    metadata = iris_server.client.get(f"/v2/models/{name}").json()
    assert metadata["name"] == name
    assert [i["name"] for i in metadata["inputs"]] == ["sepal_length", "sepal_width",
                                                       "petal_length", "petal_width"]
    assert {i["datatype"] for i in metadata["inputs"]} == {"FP64"}
    assert iris_server.client.get(f"/v2/models/{name}/ready").json()["ready"] is True
    tensor = tensor_server.client.get(f"/v2/models/{tensor_server.app.scorer.name}").json()
    assert tensor["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 3]}]
    assert tensor["parameters"] == {"scale": {"type": "double", "default": 1.0}}


def test_v2_infer_with_one_table_input_and_version_route(start_server, iris_lgbm_model_root):
    server = start_server(model_dir=str(iris_lgbm_model_root), model_name="iris",
                          model_version="3")
    response = server.client.post("/v2/models/iris/versions/3/infer", json={
        "inputs": [{"name": "features", "shape": [2, 4], "datatype": "FP64",
                    "data": [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3]}]})
    body = response.json()
    assert (body["model_name"], body["model_version"]) == ("iris", "3")
    assert body["outputs"][0]["shape"] == [2, 3]
    assert server.client.get("/v2/models/iris/versions/9").status_code == 404


def test_azure_layout_gives_model_name_and_version(start_server, tmp_path,
                                                   iris_lgbm_model_root):
    import shutil

    folder = tmp_path / "azureml-models" / "iris-model" / "4"
    shutil.copytree(iris_lgbm_model_root, folder)
    server = start_server(model_dir=str(folder))
    metadata = server.client.get("/v2/models/iris-model/versions/4").json()
    assert metadata["versions"] == ["4"]


def test_liveness_answers_while_loading_and_get_root_waits_for_init_as_azure(tmp_path, monkeypatch):
    from mlkube.server.settings import ServerSettings
    from tests.server.conftest import SCRIPTS, RunningServer, wait_until

    release = tmp_path / "release"
    monkeypatch.setenv("MLKUBE_TEST_RELEASE_FILE", str(release))
    server = RunningServer(ServerSettings(entry_script=str(SCRIPTS / "slow_init.py")))
    try:
        assert server.client.get("/v2/health/live").status_code == 200
        ready = server.client.get("/ready")
        assert ready.status_code == 503
        assert "still loading" in ready.json()["message"]
        assert server.client.post("/score", content=b"x").status_code == 503
        # Azure's clients poll GET / until 200, then score: / waits for init() here too.
        root = server.client.get("/")
        assert root.status_code == 503 and root.headers["retry-after"] == "1"
        assert "still loading" in root.json()["message"]
        release.touch()
        wait_until(lambda: server.client.get("/").status_code == 200, what="GET / 200")
        assert server.client.get("/").text == "Healthy"
        assert server.client.post("/score", content=b"x").json() == "loaded"
    finally:
        server.stop()


def test_cors_origins_are_allowed_when_configured(script_server):
    server = script_server("headers.py", cors_origins=("https://app.example",))
    response = server.client.options("/score", headers={"origin": "https://app.example"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    other = server.client.post("/score", content=b"x", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers

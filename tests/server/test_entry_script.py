"""Entry-script mode: Azure ML score.py files run unchanged, called as Azure calls them."""

from __future__ import annotations

import json

import mlflow.lightgbm
import numpy as np

from tests.models import SAMPLE_REQUEST


def test_seed_score_py_runs_unchanged_and_answers_like_its_own_model(seed_server,
                                                                     iris_lgbm_model_root):
    sample = json.loads(SAMPLE_REQUEST.read_text())
    response = seed_server.client.post("/score", json=sample)
    assert response.status_code == 200
    booster = mlflow.lightgbm.load_model(str(iris_lgbm_model_root / "model"))
    assert response.json() == booster.predict(np.array(sample["data"])).tolist()
    assert float(response.headers["x-ms-run-fn-exec-ms"]) >= 0


def test_seed_run_gets_the_raw_body_whatever_the_content_type(seed_server):
    response = seed_server.client.post("/score", content=b'{"data": [[1, 2, 3, 4]]}',
                                       headers={"content-type": "text/plain"})
    assert response.status_code == 200
    assert len(response.json()[0]) == 3


def test_invocations_wraps_run_output_in_predictions(seed_server):
    response = seed_server.client.post("/invocations", json={"data": [[1, 2, 3, 4]]})
    assert response.status_code == 200
    assert len(response.json()["predictions"][0]) == 3


def test_numpy_and_pandas_return_values_are_serialised(script_server):
    server = script_server("behaviours.py")
    assert server.client.post("/score", json={"return": "numpy"}).json() == [[1.5, 2.5],
                                                                             [3.5, 4.5]]
    assert server.client.post("/score", json={"return": "numpy_scalar"}).json() == 0.25
    assert server.client.post("/score", json={"return": "pandas"}).json() == [
        {"label": "a", "score": 0.1}, {"label": "b", "score": 0.9}]
    assert server.client.post("/score", json={"return": "series"}).json() == [1, 2, 3]


def test_str_return_value_is_a_json_string_as_on_azure(script_server):
    response = script_server("behaviours.py").client.post("/score", json={"return": "string"})
    assert response.headers["content-type"] == "application/json"
    assert response.json() == "plain text"


def test_unserialisable_return_value_is_500_naming_the_type(script_server):
    response = script_server("behaviours.py").client.post("/score", json={"return": "object"})
    assert response.status_code == 500
    assert "object" in response.json()["message"]


def test_init_runs_once_per_process(script_server):
    server = script_server("behaviours.py")
    for _ in range(3):
        assert server.client.post("/score", json={"return": "init_calls"}).json() == 1


def test_run_with_request_headers_gets_the_request_headers(script_server):
    server = script_server("headers.py")
    response = server.client.post("/score", content=b"hello",
                                  headers={"x-custom-header": "abc",
                                           "content-type": "text/plain"})
    assert response.json() == {"data": "hello", "custom": "abc", "content_type": "text/plain"}


def test_inference_schema_decorated_run_gets_typed_keyword_arguments(script_server):
    server = script_server("decorated.py")
    response = server.client.post("/score", json={
        "data": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
        "table": [{"a": 1.0, "b": "x"}, {"a": 2.0, "b": "y"}],
        "factor": 2.0,
    })
    assert response.status_code == 200, response.text
    assert response.json() == {"sums": [12.0, 30.0], "types": ["ndarray", "DataFrame", "float"],
                               "table_rows": 2}


def test_decorated_run_refuses_non_json_content_type_and_missing_keys(script_server):
    server = script_server("decorated.py")
    response = server.client.post("/score", content=b"{}", headers={"content-type": "text/csv"})
    assert response.status_code == 415
    assert "application/json" in response.json()["message"]
    response = server.client.post("/score", json={"data": [[1.0, 2.0, 3.0]], "factor": 1.0})
    assert response.status_code == 400
    assert "'table'" in response.json()["message"]
    response = server.client.post("/score", json=[1, 2])
    assert response.status_code == 400
    assert "JSON object" in response.json()["message"]


def test_swagger_of_decorated_run_comes_from_the_decorators(script_server):
    server = script_server("decorated.py")
    document = server.client.get("/swagger.json").json()
    request = document["components"]["schemas"]["ServiceInput"]
    assert set(request["properties"]) == {"data", "table", "factor"}
    assert request["example"]["factor"] == 2.0
    swagger2 = server.client.get("/swagger.json?version=2").json()
    assert swagger2["swagger"] == "2.0"
    assert swagger2["definitions"]["ServiceInput"] == request

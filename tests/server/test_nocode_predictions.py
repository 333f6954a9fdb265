"""No-code mode: every request format on every scoring route gives exactly the
predictions of the model's own in-process ``pyfunc.predict``, for each fixture model."""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from tests.models import IRIS_COLUMNS, iris_frame
from tests.server.request_bodies import table_bodies, tensor_bodies

SKLEARN_ROWS = [[134.7, 3, "rome"], [68.6, 1, "paris"], [20.0, 5, "berlin"]]
SKLEARN_COLUMNS = ["area", "rooms", "city"]
TENSOR_ROWS = [[1.0, 2.0, 3.0], [0.5, -1.5, 4.25]]


def predictions_from(route: str, response: Any) -> np.ndarray:
    assert response.status_code == 200, response.text
    body = response.json()
    if route == "/score":
        return np.asarray(body)
    if route == "/invocations":
        return np.asarray(body["predictions"])
    output = body["outputs"][0]
    return np.asarray(output["data"]).reshape(output["shape"])


ROUTES = ["/score", "/invocations", "v2"]


def _route(server: Any, route: str) -> str:
    return f"/v2/models/{server.app.scorer.name}/infer" if route == "v2" else route


@pytest.fixture(scope="module")
def iris_expected(iris_lgbm_model_root) -> tuple[list[list[float]], np.ndarray]:
    features, _ = iris_frame()
    sample = features.iloc[[0, 60, 120, 149]]
    model = mlflow.pyfunc.load_model(str(iris_lgbm_model_root / "model"))
    return sample.values.tolist(), model.predict(sample)


@pytest.mark.parametrize("route", ROUTES)
def test_iris_lightgbm_predictions_equal_pyfunc_in_every_format(iris_server, iris_expected,
                                                                route):
    rows, expected = iris_expected
    for name, (body, content_type) in table_bodies(IRIS_COLUMNS, rows).items():
        response = iris_server.client.post(_route(iris_server, route), content=body,
                                           headers={"content-type": content_type})
        got = predictions_from(route, response)
        assert np.array_equal(got, expected), f"{name} on {route}"


def test_iris_fast_path_is_the_booster_and_equals_pyfunc_for_integers_too(iris_server,
                                                                          iris_lgbm_model_root):
    assert iris_server.app.scorer.predictor_name == "lightgbm-booster"
    model = mlflow.pyfunc.load_model(str(iris_lgbm_model_root / "model"))
    expected = model.predict(pd.DataFrame([[1.0, 2.0, 3.0, 4.0]], columns=IRIS_COLUMNS))
    response = iris_server.client.post("/score", json={"data": [[1, 2, 3, 4]]})
    assert np.array_equal(np.asarray(response.json()), expected)


@pytest.fixture(scope="module")
def sklearn_expected(sklearn_columns_model_root) -> np.ndarray:
    model = mlflow.pyfunc.load_model(str(sklearn_columns_model_root / "model"))
    frame = pd.DataFrame(SKLEARN_ROWS, columns=SKLEARN_COLUMNS)
    return model.predict(frame)


@pytest.mark.parametrize("route", ROUTES)
def test_sklearn_column_model_predictions_equal_pyfunc_in_every_format(sklearn_server,
                                                                       sklearn_expected, route):
    assert sklearn_server.app.scorer.predictor_name == "sklearn"
    for name, (body, content_type) in table_bodies(SKLEARN_COLUMNS, SKLEARN_ROWS).items():
        response = sklearn_server.client.post(_route(sklearn_server, route), content=body,
                                              headers={"content-type": content_type})
        got = predictions_from(route, response)
        assert np.array_equal(got, sklearn_expected), f"{name} on {route}"


@pytest.fixture(scope="module")
def tensor_model(tensor_pyfunc_model_root) -> Any:
    return mlflow.pyfunc.load_model(str(tensor_pyfunc_model_root / "model"))


@pytest.mark.parametrize("route", ROUTES)
def test_tensor_pyfunc_predictions_equal_pyfunc_in_every_format(tensor_server, tensor_model,
                                                                route):
    expected = tensor_model.predict(np.asarray(TENSOR_ROWS, dtype=np.float32))
    for name, (body, content_type) in tensor_bodies(TENSOR_ROWS).items():
        response = tensor_server.client.post(_route(tensor_server, route), content=body,
                                             headers={"content-type": content_type})
        got = predictions_from(route, response).astype(expected.dtype)
        assert np.array_equal(got, expected), f"{name} on {route}"


@pytest.mark.parametrize("route", ROUTES)
def test_tensor_pyfunc_params_reach_the_model(tensor_server, tensor_model, route):
    array = np.asarray(TENSOR_ROWS, dtype=np.float32)
    expected = tensor_model.predict(array, params={"scale": 2.5})
    response = tensor_server.client.post(
        _route(tensor_server, route),
        json={"input_data": TENSOR_ROWS, "params": {"scale": 2.5}})
    got = predictions_from(route, response).astype(expected.dtype)
    assert np.array_equal(got, expected)
    assert not np.array_equal(got, tensor_model.predict(array))


def test_v2_parameters_are_params(tensor_server, tensor_model):
    array = np.asarray(TENSOR_ROWS, dtype=np.float32)
    response = tensor_server.client.post(
        f"/v2/models/{tensor_server.app.scorer.name}/infer",
        json={"id": "req-7", "parameters": {"scale": 3.0, "content_type": "np"},
              "inputs": [{"name": "input", "shape": [2, 3], "datatype": "FP32",
                          "data": TENSOR_ROWS}]})
    body = response.json()
    assert body["id"] == "req-7"
    assert body["model_name"] == tensor_server.app.scorer.name
    got = np.asarray(body["outputs"][0]["data"], dtype=np.float32)
    assert np.array_equal(got, tensor_model.predict(array, params={"scale": 3.0}))
    assert body["outputs"][0]["datatype"] == "FP32"


def test_no_code_model_served_from_the_mlmodel_folder_itself(start_server,
                                                             iris_lgbm_model_root):
    server = start_server(model_dir=str(iris_lgbm_model_root / "model"))
    response = server.client.post("/score", json={"data": [[5.1, 3.5, 1.4, 0.2]]})
    assert response.status_code == 200
    assert np.asarray(response.json()).shape == (1, 3)

"""More flavors served no-code: a scikit-learn Pipeline over mixed column types (strings
one-hot encoded, string labels out), an XGBoost Booster and an ONNX model converted from
scikit-learn with skl2onnx. Every request format on every scoring route gives what the
model's own in-process ``pyfunc.predict`` gives on the same rows: labels exactly, floats
exactly (the server computes them on the same path)."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from tests.models import IRIS_COLUMNS, MIXED_COLUMNS, iris_frame, mixed_frame
from tests.server.request_bodies import table_bodies, tensor_bodies
from tests.server.test_batching import batch_histogram, fire_concurrently
from tests.server.test_nocode_predictions import ROUTES, _route, predictions_from

IRIS_SAMPLE = [0, 60, 120, 149]
# Past the direct predictors' one-thread limit (512 rows): the multi-threaded path too.
MANY_ROWS = 700


def _post_all(server: Any, route: str, bodies: dict[str, tuple[bytes, str]]
              ) -> dict[str, Any]:
    return {name: server.client.post(_route(server, route), content=body,
                                     headers={"content-type": content_type})
            for name, (body, content_type) in bodies.items()}


# -- scikit-learn Pipeline, mixed column types ------------------------------------------


@pytest.fixture(scope="module")
def mixed_server(start_server, sklearn_mixed_model_root):
    return start_server(model_dir=str(sklearn_mixed_model_root))


@pytest.fixture(scope="module")
def mixed_rows() -> list[list[Any]]:
    features, _ = mixed_frame(n=8, seed=7)
    # Plain Python values, as a client's JSON holds them.
    return [[float(r[0]), int(r[1]), str(r[2]), str(r[3]), bool(r[4])]
            for r in features.itertuples(index=False)]


@pytest.fixture(scope="module")
def mixed_expected(sklearn_mixed_model_root, mixed_rows) -> np.ndarray:
    model = mlflow.pyfunc.load_model(str(sklearn_mixed_model_root / "model"))
    features, _ = mixed_frame(n=8, seed=7)
    expected = model.predict(features)
    assert len(set(expected)) > 1  # the rows reach more than one class
    return expected


@pytest.mark.parametrize("route", ROUTES)
def test_sklearn_mixed_pipeline_labels_equal_pyfunc_in_every_format(mixed_server, mixed_rows,
                                                                    mixed_expected, route):
    for name, response in _post_all(mixed_server, route,
                                    table_bodies(MIXED_COLUMNS, mixed_rows)).items():
        got = predictions_from(route, response)
        assert got.tolist() == mixed_expected.tolist(), f"{name} on {route}"


def test_sklearn_mixed_pipeline_v2_labels_are_bytes(mixed_server, mixed_rows, mixed_expected):
    response = mixed_server.client.post(
        _route(mixed_server, "v2"),
        content=table_bodies(MIXED_COLUMNS, mixed_rows)["v2"][0],
        headers={"content-type": "application/json"})
    output = response.json()["outputs"][0]
    assert (output["datatype"], output["shape"]) == ("BYTES", [len(mixed_rows)])


def test_sklearn_mixed_pipeline_names_a_number_sent_for_a_string_column(mixed_server,
                                                                        mixed_rows):
    row = list(mixed_rows[0])
    row[2] = 3
    response = mixed_server.client.post("/score", json={"data": [row]})
    assert response.status_code == 400
    assert "'plan'" in response.json()["message"]


# -- XGBoost ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def xgboost_server(start_server, xgboost_model_root):
    return start_server(model_dir=str(xgboost_model_root))


def _iris_rows() -> tuple[list[list[float]], pd.DataFrame]:
    features, _ = iris_frame()
    sample = features.iloc[IRIS_SAMPLE]
    return sample.to_numpy().tolist(), sample


@pytest.mark.parametrize("route", ROUTES)
def test_xgboost_probabilities_equal_pyfunc_in_every_format(xgboost_server, xgboost_model_root,
                                                            route):
    rows, frame = _iris_rows()
    expected = mlflow.pyfunc.load_model(str(xgboost_model_root / "model")).predict(frame)
    assert expected.shape == (len(rows), 3)
    for name, response in _post_all(xgboost_server, route,
                                    table_bodies(IRIS_COLUMNS, rows)).items():
        got = predictions_from(route, response)
        assert got.shape == expected.shape, f"{name} on {route}"
        assert np.array_equal(got.astype(expected.dtype), expected), f"{name} on {route}"


@pytest.fixture(scope="module")
def xgb_classifier_server(start_server, xgb_classifier_model_root):
    return start_server(model_dir=str(xgb_classifier_model_root))


@pytest.mark.parametrize("route", ROUTES)
def test_xgboost_classifier_labels_equal_pyfunc_in_every_format(xgb_classifier_server,
                                                                xgb_classifier_model_root, route):
    server = xgb_classifier_server
    assert server.app.scorer.predictor_name == "pyfunc"  # not a Booster: pyfunc's own path
    rows, frame = _iris_rows()
    expected = mlflow.pyfunc.load_model(str(xgb_classifier_model_root / "model")).predict(frame)
    assert len(set(expected.tolist())) > 1
    for name, response in _post_all(server, route, table_bodies(IRIS_COLUMNS, rows)).items():
        assert predictions_from(route, response).tolist() == expected.tolist(), f"{name} on {route}"


def test_xgboost_v2_output_keeps_float32_and_the_row_shape(xgboost_server):
    rows, _ = _iris_rows()
    response = xgboost_server.client.post(
        _route(xgboost_server, "v2"),
        content=table_bodies(IRIS_COLUMNS, rows)["v2"][0],
        headers={"content-type": "application/json"})
    output = response.json()["outputs"][0]
    assert (output["datatype"], output["shape"]) == ("FP32", [len(rows), 3])


# -- ONNX (scikit-learn converted with skl2onnx) ---------------------------------------


@pytest.fixture(scope="module")
def onnx_server(start_server, onnx_model_root):
    return start_server(model_dir=str(onnx_model_root))


@pytest.fixture(scope="module")
def onnx_expected(onnx_model_root) -> tuple[list[list[float]], dict[str, np.ndarray]]:
    rows, _ = _iris_rows()
    model = mlflow.pyfunc.load_model(str(onnx_model_root / "model"))
    return rows, model.predict(np.asarray(rows, dtype=np.float32))


def _onnx_outputs(route: str, response: Any) -> dict[str, np.ndarray]:
    assert response.status_code == 200, response.text
    body = response.json()
    if route == "v2":
        return {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in body["outputs"]}
    if route == "/invocations":
        body = body["predictions"]
    return {name: np.asarray(value) for name, value in body.items()}


@pytest.mark.parametrize("route", ROUTES)
def test_onnx_outputs_equal_pyfunc_in_every_format(onnx_server, onnx_expected, route):
    rows, expected = onnx_expected
    assert set(expected) == {"label", "probabilities"}
    bodies = tensor_bodies(rows)
    bodies["v2-FP64"] = (bodies["v2"][0].replace(b'"FP32"', b'"FP64"'), "application/json")
    bodies["csv"] = (_csv(IRIS_COLUMNS, rows), "text/csv")
    for name, response in _post_all(onnx_server, route, bodies).items():
        got = _onnx_outputs(route, response)
        assert set(got) == set(expected), f"{name} on {route}"
        assert got["label"].tolist() == expected["label"].tolist(), f"{name} on {route}"
        assert np.array_equal(got["probabilities"].astype(np.float32),
                              expected["probabilities"]), f"{name} on {route}"


def _csv(columns: list[str], rows: list[list[Any]]) -> bytes:
    text = io.StringIO()
    csv.writer(text).writerows([columns, *rows])
    return text.getvalue().encode()


def _random_iris_like(n: int) -> list[list[float]]:
    return np.random.default_rng(3).uniform(0, 8, (n, 4)).round(3).tolist()


# -- the direct predictors: what pyfunc does, on many rows and in batches ---------------


def test_xgboost_is_served_by_the_booster_itself_and_equals_pyfunc_on_many_rows(
        xgboost_server, xgboost_model_root):
    assert xgboost_server.app.scorer.predictor_name == "xgboost-booster"
    model = mlflow.pyfunc.load_model(str(xgboost_model_root / "model"))
    for n in (1, MANY_ROWS):
        rows = _random_iris_like(n)
        expected = model.predict(pd.DataFrame(rows, columns=IRIS_COLUMNS))
        got = np.asarray(xgboost_server.client.post("/score", json={"data": rows}).json())
        assert np.array_equal(got.astype(np.float32), expected), n


def test_onnx_is_served_by_the_session_itself_and_equals_pyfunc_on_many_rows(
        onnx_server, onnx_model_root):
    assert onnx_server.app.scorer.predictor_name == "onnx-session"
    model = mlflow.pyfunc.load_model(str(onnx_model_root / "model"))
    rows = _random_iris_like(MANY_ROWS)
    expected = model.predict(np.asarray(rows, dtype=np.float32))
    got = onnx_server.client.post("/score", json={"input_data": rows}).json()
    assert got["label"] == expected["label"].tolist()
    assert np.array_equal(np.asarray(got["probabilities"], dtype=np.float32),
                          expected["probabilities"])


@pytest.mark.parametrize("flavor", ["xgboost", "onnx"])
def test_with_batching_on_each_request_gets_exactly_what_pyfunc_gives_it(
        start_server, xgboost_model_root, onnx_model_root, flavor):
    root = xgboost_model_root if flavor == "xgboost" else onnx_model_root
    server = start_server(model_dir=str(root), batching=True, max_batch_size=16,
                          max_batch_wait_ms=2)
    model = mlflow.pyfunc.load_model(str(root / "model"))
    rows = _random_iris_like(60)
    # Requests of 1 to 3 rows, so a wrong split would show.
    chunks = [rows[i:i + 1 + i % 3] for i in range(0, 57, 3)] * 3
    responses = fire_concurrently(server.url, [{"input_data": c} for c in chunks])
    for chunk, response in zip(chunks, responses, strict=True):
        assert response.status_code == 200, response.text
        answer = response.json()
        if flavor == "xgboost":
            expected = model.predict(pd.DataFrame(chunk, columns=IRIS_COLUMNS))
            assert np.array_equal(np.asarray(answer, dtype=np.float32), expected)
        else:
            expected = model.predict(np.asarray(chunk, dtype=np.float32))
            assert answer["label"] == expected["label"].tolist()
            assert np.array_equal(np.asarray(answer["probabilities"], dtype=np.float32),
                                  expected["probabilities"])
    batches, requests = batch_histogram(server.client.get("/metrics").text)
    if flavor == "xgboost":
        assert requests == len(chunks)
        assert batches < requests, "no request was batched with another"
    else:
        # onnxruntime's float rounding depends on the batch size: never merged.
        assert (batches, requests) == (0, 0)


def test_onnx_csv_cell_that_is_not_a_number_is_named(onnx_server):
    response = onnx_server.client.post(
        "/score", content=b"a,b,c,d\n1,2,3,4\n1,x,3,4\n", headers={"content-type": "text/csv"})
    assert response.status_code == 400
    body = response.json()
    assert "row 1, column 1" in body["message"] and "float32" in body["message"]
    assert "'x'" not in body["message"]  # the payload is never echoed


# -- `mlkube serve --model-dir`, as users start it --------------------------------------


def test_mlkube_serve_serves_each_flavor_no_code_as_pyfunc_predicts(
        serve_process, sklearn_mixed_model_root, xgboost_model_root, onnx_model_root,
        mixed_rows, mixed_expected):
    rows, frame = _iris_rows()
    servers = {name: serve_process(["serve", "--model-dir", str(root)]) for name, root in (
        ("mixed", sklearn_mixed_model_root), ("xgboost", xgboost_model_root),
        ("onnx", onnx_model_root))}  # started together: start-up is the slow part
    mixed = servers["mixed"].wait_ready()
    got = httpx.post(mixed.url + "/score", timeout=10,
                     content=_csv(MIXED_COLUMNS, mixed_rows), headers={"content-type": "text/csv"})
    assert got.json() == mixed_expected.tolist()
    xgboost_server = servers["xgboost"].wait_ready()
    expected = mlflow.pyfunc.load_model(str(xgboost_model_root / "model")).predict(frame)
    got = httpx.post(xgboost_server.url + "/invocations", timeout=10,
                     json={"dataframe_split": {"columns": IRIS_COLUMNS, "data": rows}})
    assert np.array_equal(np.asarray(got.json()["predictions"], dtype=np.float32), expected)
    onnx = servers["onnx"].wait_ready()
    expected = mlflow.pyfunc.load_model(str(onnx_model_root / "model")).predict(
        np.asarray(rows, dtype=np.float32))
    got = httpx.post(onnx.url + "/score", timeout=10, json={"data": rows}).json()
    assert got["label"] == expected["label"].tolist()
    assert np.array_equal(np.asarray(got["probabilities"], dtype=np.float32),
                          expected["probabilities"])

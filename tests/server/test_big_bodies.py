"""10,000-row bodies, in every request format: the same predictions as in-process
``pyfunc.predict``, the same clear errors for a bad cell deep inside, the same limits.

The server reads big numeric bodies on fast paths (a numeric CSV by pandas' C parser,
records through one getter each, the garbage collector paused while a body is decoded);
these tests hold them to what the per-cell paths give, on full-precision floats as
computed features have."""

from __future__ import annotations

import csv
import gc
import io

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from tests.models import IRIS_COLUMNS, iris_frame
from tests.server.request_bodies import table_bodies
from tests.server.test_nocode_predictions import predictions_from

ROWS = 10_000
# Each format on the route of its protocol (every route takes every format).
ROUTE_OF = {"dataframe_split": "/invocations", "dataframe_records": "/invocations",
            "instances": "/invocations", "inputs": "/invocations", "csv": "/invocations"}


@pytest.fixture(scope="module")
def big_frame() -> pd.DataFrame:
    features, _ = iris_frame()
    picked = features.sample(n=ROWS, replace=True, random_state=7).reset_index(drop=True)
    noise = np.random.default_rng(7).normal(0.0, 0.05, picked.shape)
    return picked + noise


@pytest.fixture(scope="module")
def pyfunc_model(iris_lgbm_model_root) -> mlflow.pyfunc.PyFuncModel:
    return mlflow.pyfunc.load_model(str(iris_lgbm_model_root / "model"))


def _csv_body(frame: pd.DataFrame, *, line_end: str = "\r\n") -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator=line_end).writerows(
        [list(frame.columns), *frame.astype(object).values.tolist()])
    return text.getvalue().encode()


def _score(server, name: str, body: bytes, content_type: str):
    route = ROUTE_OF.get(name, "/score")
    if name == "v2":
        route = f"/v2/models/{server.app.scorer.name}/infer"
    response = server.client.post(route, content=body, headers={"content-type": content_type})
    return route, response


def test_10000_rows_give_pyfunc_predictions_in_every_format(iris_server, big_frame,
                                                           pyfunc_model):
    expected = pyfunc_model.predict(big_frame)
    bodies = table_bodies(IRIS_COLUMNS, big_frame.values.tolist())
    assert set(bodies) >= {"csv", "v2", "dataframe_records", "input_data-split"}
    for name, (body, content_type) in bodies.items():
        route, response = _score(iris_server, name, body, content_type)
        assert np.array_equal(predictions_from(route, response), expected), name


def test_big_csv_with_lf_line_ends_missing_cells_and_reordered_columns_equals_pyfunc(
        iris_server, big_frame, pyfunc_model):
    frame = big_frame.copy()
    frame.iloc[[3, 9_000], 1] = np.nan  # empty cells: missing values, as pyfunc reads them
    expected = pyfunc_model.predict(frame)
    body = _csv_body(frame[IRIS_COLUMNS[::-1]], line_end="\n").replace(b",nan", b",")
    route, response = _score(iris_server, "csv", body, "text/csv")
    assert np.array_equal(predictions_from(route, response), expected)
    whole = _csv_body(big_frame[IRIS_COLUMNS[::-1]], line_end="\n")
    route, response = _score(iris_server, "csv", whole, "text/csv")
    assert np.array_equal(predictions_from(route, response), pyfunc_model.predict(big_frame))


@pytest.mark.parametrize("name", ["csv", "data-rows", "dataframe_records"])
def test_a_bad_value_deep_in_a_big_body_is_named_by_column_and_row(iris_server, big_frame,
                                                                  name):
    rows = big_frame.values.tolist()
    rows[9_876][2] = "n/a" if name == "csv" else True
    body, content_type = table_bodies(IRIS_COLUMNS, rows)[name]
    _, response = _score(iris_server, name, body, content_type)
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert f"Column '{IRIS_COLUMNS[2]}' expects double" in message and "row 9876" in message
    assert "hint" in response.json()


def test_the_body_limit_still_refuses_a_big_body(start_server, iris_lgbm_model_root,
                                                 big_frame):
    server = start_server(model_dir=str(iris_lgbm_model_root), max_request_bytes=100_000)
    for name in ("csv", "data-rows"):
        body, content_type = table_bodies(IRIS_COLUMNS, big_frame.values.tolist())[name]
        _, response = _score(server, name, body, content_type)
        assert response.status_code == 413, response.text
        assert "--max-request-mb" in response.json()["hint"]
    small, _ = table_bodies(IRIS_COLUMNS, big_frame.values[:10].tolist())["data-rows"]
    assert server.client.post("/score", content=small).status_code == 200


def test_the_garbage_collector_is_on_again_after_every_request_good_or_bad(iris_server,
                                                                           big_frame):
    # The server pauses it while it decodes a body; a request that fails to decode must
    # not leave it off, or every cycle a model makes would stay in memory for good.
    bodies = table_bodies(IRIS_COLUMNS, big_frame.values[:50].tolist())
    bad = [[1.0, "x", 2.0, 3.0]]
    for body, content_type in (bodies["dataframe_records"], bodies["csv"],
                               table_bodies(IRIS_COLUMNS, bad)["data-rows"],
                               (b"{not json", "application/json")):
        route, response = _score(iris_server, "csv", body, content_type)  # /invocations
        assert gc.isenabled(), (route, response.status_code)
    assert response.status_code == 400

"""Input the server used to take silently: v2 shapes and datatypes that do not fit the
data or the signature, JSON booleans where numbers belong, index labels that are not
labels, and invalid UTF-8, which must be reported where it is and as what it is.

Each is a 400 in the one error shape, naming the input (or column) and the fix.
"""

from __future__ import annotations

import pytest

from tests.models import IRIS_COLUMNS
from tests.server.test_errors import assert_error

ROW = [5.1, 3.5, 1.4, 0.2]


def _v2(*inputs: dict) -> dict:
    return {"inputs": list(inputs)}


def _table(shape, datatype="FP64", data=None) -> dict:
    return {"name": "features", "shape": shape, "datatype": datatype,
            "data": ROW if data is None else data}


def _per_column(datatype: str, first_value, shape=(1,)) -> dict:
    values = {c: v for c, v in zip(IRIS_COLUMNS, ROW, strict=True)}
    values[IRIS_COLUMNS[0]] = first_value
    return _v2(*({"name": c, "shape": list(shape), "datatype": datatype if c == IRIS_COLUMNS[0]
                  else "FP64", "data": [v]} for c, v in values.items()))


@pytest.mark.parametrize(("body", "fragments"), [
    (_v2(_table([1000000000, 4])),
     ["'features'", "shape [1000000000, 4]", "4000000000 values", "has 4"]),
    (_v2(_table([2, 2])), ["'features'", "shape [2, 2]", "[rows, 4]", "sepal_length"]),
    (_v2(_table([1, 4], "BOGUS")), ["'features'", "datatype 'BOGUS'"]),
    (_v2(_table([-1, 4])), ["'features'", "shape [-1, 4]"]),
    (_v2(_table("1,4")), ["'features'", "shape"]),
    (_per_column("INT8", 5.1), ["'sepal_length'", "INT8", "5.1"]),
    (_per_column("INT8", 300), ["'sepal_length'", "INT8", "300"]),
    (_per_column("FP64", True), ["'sepal_length'", "boolean"]),
    (_per_column("FP64", 5.1, shape=(2,)), ["'sepal_length'", "shape [2]", "1 value"]),
])
def test_v2_shape_and_datatype_are_checked_for_column_signatures(iris_server, body, fragments):
    response = iris_server.client.post("/score", json=body)
    body = assert_error(response, 400, *fragments)
    assert body["hint"]


@pytest.mark.parametrize(("item", "fragments"), [
    ({"name": "input", "shape": [1, 3], "datatype": "INT8", "data": [5.1, 1, 2]},
     ["'input'", "INT8", "5.1"]),
    ({"name": "input", "shape": [1000000000, 3], "datatype": "FP32", "data": [1, 2, 3]},
     ["'input'", "shape [1000000000, 3]", "has 3"]),
    ({"name": "input", "shape": [1, 3], "datatype": "BOGUS", "data": [1, 2, 3]},
     ["'input'", "'BOGUS'"]),
])
def test_v2_shape_and_datatype_are_checked_for_tensor_signatures(tensor_server, item,
                                                                 fragments):
    response = tensor_server.client.post("/score", json={"inputs": [item]})
    assert_error(response, 400, *fragments)


@pytest.mark.parametrize("body", [
    {"data": [[True, 3.5, 1.4, 0.2]]},
    {"data": [[5.1, 3.5, 1.4, False]]},
    {"input_data": {"columns": IRIS_COLUMNS, "data": [ROW, [5.0, True, 1.0, 0.5]]}},
    {"dataframe_records": [dict(zip(IRIS_COLUMNS, [True, 3.5, 1.4, 0.2], strict=True))]},
    {"input_data": {c: [True if c == "petal_length" else 1.0] for c in IRIS_COLUMNS}},
])
def test_boolean_for_a_double_column_is_400_naming_the_column(iris_server, body):
    response = iris_server.client.post("/score", json=body)
    body = assert_error(response, 400, "expects double", "boolean")
    assert "Send a number" in body["hint"]


def test_boolean_for_a_long_column_is_400(sklearn_server):
    response = sklearn_server.client.post(
        "/score", json={"dataframe_records": [{"area": 50.0, "rooms": True, "city": "rome"}]})
    assert_error(response, 400, "'rooms'", "expects long", "boolean")


def test_boolean_in_a_float_tensor_is_400(tensor_server):
    response = tensor_server.client.post("/score", json={"input_data": [[1.0, True, 3.0]]})
    assert_error(response, 400, "float32", "boolean")


@pytest.mark.parametrize("index", [[{}], [None], [1.5], [True], "0"])
def test_index_that_is_not_integer_or_string_labels_is_400(iris_server, index):
    response = iris_server.client.post("/score", json={"input_data": {
        "columns": IRIS_COLUMNS, "index": index, "data": [ROW]}})
    assert_error(response, 400, "index")


def test_index_of_integer_or_string_labels_is_accepted(iris_server):
    for index in ([0], ["row-a"]):
        response = iris_server.client.post("/score", json={"input_data": {
            "columns": IRIS_COLUMNS, "index": index, "data": [ROW]}})
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("prefix", [b'{"data": [[5.1, 3.5, 1.4, "',
                                    b'{"data":\n  [[5.1, 3.5, 1.4, "'])
def test_invalid_utf8_in_a_string_is_reported_at_its_byte_and_as_utf8(iris_server, prefix):
    body = prefix + b'ab\xffcd"]]}'
    position = len(prefix) + 2
    line = body.count(b"\n", 0, position) + 1
    column = position - (body.rfind(b"\n", 0, position) + 1) + 1
    response = iris_server.client.post("/score", content=body,
                                       headers={"content-type": "application/json"})
    error = assert_error(response, 400, "not valid UTF-8", "0xff", "invalid start byte",
                         f"byte {position}", f"line {line} column {column}")
    assert "surrogates" not in error["message"]
    assert "UTF-8" in error["hint"]

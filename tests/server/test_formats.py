"""Format detection and response encoding, in-process (pure functions)."""

from __future__ import annotations

import csv
import io
import random

import numpy as np
import orjson
import pandas as pd
import pytest

from mlkube.errors import InvalidInputError, UnsupportedMediaTypeError
from mlkube.server import formats


def parse(document: object, content_type: str = "application/json") -> formats.ScoringRequest:
    return formats.parse_request(orjson.dumps(document), content_type)


@pytest.mark.parametrize(("document", "kind", "fmt"), [
    ({"data": [[1, 2]]}, "array", "data"),
    ({"data": [{"a": 1}]}, "records", "data"),
    ({"input_data": {"columns": ["a"], "index": [0], "data": [[1]]}}, "split", "input_data"),
    ({"input_data": [[1, 2]]}, "array", "input_data"),
    ({"input_data": {"a": [1, 2]}}, "columns", "input_data"),
    ({"dataframe_split": {"columns": ["a"], "data": [[1]]}}, "split", "dataframe_split"),
    ({"dataframe_split": {"data": [[1]]}}, "array", "dataframe_split"),
    ({"dataframe_records": [{"a": 1}]}, "records", "dataframe_records"),
    ({"instances": [[1, 2]]}, "array", "instances"),
    ({"instances": [{"a": 1}]}, "records", "instances"),
    ({"inputs": {"a": [1]}}, "columns", "inputs"),
    ({"inputs": [[1, 2]]}, "array", "inputs"),
    ({"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}]}, "v2", "v2"),
])
def test_every_format_is_detected_from_the_body(document, kind, fmt):
    request = parse(document)
    assert (request.kind, request.format) == (kind, fmt)


def test_params_ride_along_with_any_format():
    assert parse({"instances": [[1]], "params": {"k": 2}}).params == {"k": 2}
    assert parse({"data": [[1]]}).params is None


def test_csv_gives_header_and_string_cells():
    request = formats.parse_request(b"a,b\n1,x\n2,y\n", "text/csv; charset=utf-8")
    assert (request.kind, request.columns, request.data.rows()) == ("csv", ["a", "b"],
                                                                    [["1", "x"], ["2", "y"]])
    assert request.data.numbers() is None  # "x" is no number


@pytest.mark.parametrize("body, numbers", [
    (b"a,b\r\n1,2.5\r\n-3e2,4\r\n\r\n", [[1, 2.5], [-300.0, 4]]),
    (b"a,b\n 1 ,2\n", [[1, 2]]),
    # Cells float() reads but JSON does not, or reads differently: one by one instead.
    (b"a,b\n1,\n", None), (b"a,b\n1,nan\n", None), (b"a,b\n+1,2\n", None),
    (b"a,b\n.5,2\n", None), (b"a,b\n-0,2\n", None), (b"a,b\n1,true\n", None),
    (b'a,b\n"1",2\n', None), (b"a,b\n1\r2,3\n", None), (b"a,b\n1,2\n\n3,4\n", None),
])
def test_csv_numbers_are_read_whole_only_when_every_cell_is_a_json_number(body, numbers):
    request = formats.parse_request(body, "text/csv")
    assert request.data.numbers() == numbers
    if numbers is not None:  # the same values float() gives each cell
        assert [[float(v) for v in row] for row in numbers] == [
            [float(cell) for cell in row] for row in request.data.rows()]


def test_malformed_json_error_gives_line_and_column():
    with pytest.raises(InvalidInputError) as caught:
        formats.parse_request(b'{"data":\n [1, 2,, 3]}', "application/json")
    assert "line 2 column" in caught.value.message
    assert "char" in caught.value.message


def test_two_envelopes_are_refused_naming_both():
    with pytest.raises(InvalidInputError, match="data, instances"):
        parse({"data": [[1]], "instances": [[1]]})


def test_unknown_content_type_is_415():
    with pytest.raises(UnsupportedMediaTypeError):
        formats.parse_request(b"x", "application/octet-stream")


def test_empty_body_is_refused_with_the_accepted_formats():
    with pytest.raises(InvalidInputError) as caught:
        formats.parse_request(b"  ", "application/json")
    assert "dataframe_split" in (caught.value.hint or "")


def test_route_encoders_shape_the_same_prediction_three_ways():
    prediction = np.array([[0.1, 0.9], [0.7, 0.3]])
    assert orjson.loads(formats.encode_score(prediction)) == [[0.1, 0.9], [0.7, 0.3]]
    assert orjson.loads(formats.encode_invocations(prediction)) == {
        "predictions": [[0.1, 0.9], [0.7, 0.3]]}
    v2 = orjson.loads(formats.encode_v2(prediction, model_name="m", model_version="1",
                                        request_id="r"))
    assert v2["outputs"] == [{"name": "predict", "shape": [2, 2], "datatype": "FP64",
                              "data": [0.1, 0.9, 0.7, 0.3]}]
    assert (v2["model_name"], v2["model_version"], v2["id"]) == ("m", "1", "r")


def test_dataframe_predictions_are_records_and_v2_columns():
    frame = pd.DataFrame({"label": ["a", "b"], "p": [0.25, 0.75]})
    assert orjson.loads(formats.encode_invocations(frame)) == {
        "predictions": [{"label": "a", "p": 0.25}, {"label": "b", "p": 0.75}]}
    outputs = formats.v2_outputs(frame)
    assert [(o["name"], o["datatype"]) for o in outputs] == [("label", "BYTES"), ("p", "FP64")]


def test_non_contiguous_and_float32_arrays_are_written_exactly():
    array = np.arange(6, dtype=np.float32).reshape(2, 3).T
    assert orjson.loads(formats.encode_score(array)) == array.tolist()


def _float_cells(text: str) -> list[list[float]]:
    """What the csv module and float() make of a CSV table: the reference."""
    return [[float(cell) for cell in row] for row in csv.reader(io.StringIO(text)) if row]


def test_csv_matrix_holds_exactly_the_values_float_reads_from_each_cell():
    rng = random.Random(14)
    values = ([rng.uniform(-1e3, 1e3) for _ in range(4_000)]
              + [rng.random() * 10.0 ** rng.randint(-320, 308) for _ in range(4_000)]
              + [5e-324, 2.2250738585072011e-308, 1.7976931348623157e308, 0.1, 1 / 3])
    spelled = [repr(v) for v in values] + [f"{v:.25e}" for v in values[:2_000]] + [
        "-0", "+1", ".5", "5.", "1E5", "123456789012345678901234567890", " 2.5", "1e999",
        "0.30000000000000004441", "9007199254740993"]
    spelled += ["0"] * (-len(spelled) % 4)
    text = "\r\n".join(",".join(spelled[i:i + 4]) for i in range(0, len(spelled), 4)) + "\r\n"
    matrix = formats.CsvRows(text).matrix(4)
    assert matrix is not None and matrix.dtype == np.float64
    reference = np.array(_float_cells(text))
    assert matrix.shape == reference.shape
    # Bit for bit (signed zeros and infinities included), not just ==.
    assert matrix.tobytes() == reference.tobytes()


# Big enough for pandas: its fixed cost is not paid on a small body.
_PADDING = "1.5,2\n" * 20_000


@pytest.mark.parametrize("tail", [
    "3\n", "3,4,5\n", "1,\n", "1,nan\n", "1,inf\n", "1,NaN\n", '"1",2\n', "1,2\x00\n",
    "1,true\n", "0x10,2\n", "1_000,2\n", "   \n", "\n3,4\n", "1e,2\n", "1,2 3\n",
])
def test_csv_matrix_leaves_every_other_table_to_the_cell_by_cell_reading(tail):
    # None means: read cell by cell, where float() and the column's type rules decide.
    assert formats.CsvRows(_PADDING + tail).matrix(2) is None
    assert formats.CsvRows(_PADDING).matrix(2).shape == (20_000, 2)
    assert formats.CsvRows("1.5,2\n").matrix(2) is None  # small: orjson reads it

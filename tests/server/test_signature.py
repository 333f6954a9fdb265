"""The compiled signature: validation that names what is wrong, typed model input."""

from __future__ import annotations

import numpy as np
import pytest

from mlkube.errors import InvalidInputError
from mlkube.server.formats import CsvRows, ScoringRequest
from mlkube.server.signature import CompiledSignature, InputSignature

IRIS = {"inputs": '[{"type": "double", "name": "a", "required": true}, '
                  '{"type": "double", "name": "b", "required": true}]'}
MIXED = {"inputs": '[{"type": "double", "name": "area", "required": true}, '
                   '{"type": "long", "name": "rooms", "required": true}, '
                   '{"type": "string", "name": "city", "required": true}, '
                   '{"type": "boolean", "name": "new", "required": false}]'}
TENSOR = {"inputs": '[{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}]',
          "params": '[{"name": "scale", "type": "double", "default": 1.0, "shape": null}]'}


def compiled(signature: dict) -> CompiledSignature:
    return CompiledSignature(InputSignature.from_mlflow_dict(signature))


def test_all_double_rows_become_one_float_matrix_in_signature_order():
    table = compiled(IRIS).decode(ScoringRequest("split", [[2, 1.5]], columns=["b", "a"]))
    assert table.matrix.dtype == np.float64
    assert table.matrix.tolist() == [[1.5, 2.0]]
    table = compiled(IRIS).decode(ScoringRequest("array", [[1, 2], [3, 4]]))
    assert table.matrix.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_mixed_columns_get_signature_dtypes():
    table = compiled(MIXED).decode(ScoringRequest("records", [
        {"area": 10, "rooms": 2.0, "city": "rome", "new": True}]))
    assert table.columns["area"].dtype == np.float64
    assert table.columns["rooms"].dtype == np.int64
    assert table.columns["city"].dtype == object
    assert table.columns["new"].dtype == np.bool_
    assert table.matrix is None


def test_optional_column_may_be_absent():
    table = compiled(MIXED).decode(ScoringRequest("records", [
        {"area": 10, "rooms": 2, "city": "rome"}]))
    assert list(table.columns) == ["area", "rooms", "city"]


@pytest.mark.parametrize(("row", "fragment"), [
    ({"area": "big", "rooms": 1, "city": "x"}, "Column 'area' expects double"),
    ({"area": 1.0, "rooms": 1.5, "city": "x"}, "Column 'rooms' expects long"),
    ({"area": 1.0, "rooms": True, "city": "x"}, "Column 'rooms' expects long"),
    ({"area": 1.0, "rooms": 1, "city": 3}, "Column 'city' expects string"),
    ({"area": 1.0, "rooms": 1}, "Missing column 'city' (string)"),
])
def test_type_errors_name_the_column_and_expected_type(row, fragment):
    with pytest.raises(InvalidInputError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        compiled(MIXED).decode(ScoringRequest("records", [row]))


def test_wrong_width_names_the_columns_in_order():
    with pytest.raises(InvalidInputError, match=r"Row 1 has 3 values; expected 2 \(a, b\)"):
        compiled(IRIS).decode(ScoringRequest("array", [[1, 2], [1, 2, 3]]))


def test_csv_cells_are_parsed_per_column_type():
    table = compiled(MIXED).decode(ScoringRequest(
        "csv", CsvRows("1.5,2,rome\n"), columns=["area", "rooms", "city"]))
    assert table.columns["area"].tolist() == [1.5]
    assert table.columns["rooms"].tolist() == [2]
    with pytest.raises(InvalidInputError, match="'rooms'"):
        compiled(MIXED).decode(ScoringRequest("csv", CsvRows("1.5,two,rome\n"),
                                              columns=["area", "rooms", "city"]))


def test_split_rows_in_another_order_with_an_extra_column_give_the_signature_matrix():
    table = compiled(IRIS).decode(ScoringRequest("split", [[7, 2, 1.5], [8, 4, -20]],
                                                 columns=["extra", "b", "a"]))
    assert table.matrix.tolist() == [[1.5, 2.0], [-20.0, 4.0]]
    assert table.matrix.flags.c_contiguous and table.columns["b"].tolist() == [2.0, 4.0]
    with pytest.raises(InvalidInputError, match="Column 'a' expects double"):
        compiled(IRIS).decode(ScoringRequest("split", [[7, 2, "x"]],
                                             columns=["extra", "b", "a"]))


def test_numeric_csv_gives_the_float_matrix_in_signature_order_and_odd_cells_still_work():
    # Read whole (header in another order, an extra column dropped)...
    table = compiled(IRIS).decode(ScoringRequest("csv", CsvRows("7,2,1.5\n8,4,-2e1\n"),
                                                 columns=["extra", "b", "a"]))
    assert table.matrix.tolist() == [[1.5, 2.0], [-20.0, 4.0]]
    assert table.matrix.flags.c_contiguous and table.columns["a"].tolist() == [1.5, -20.0]
    # ...and cell by cell where a cell is no JSON number: the same rules as before.
    table = compiled(IRIS).decode(ScoringRequest("csv", CsvRows("1.5,\nnan,-0\n"),
                                                 columns=["a", "b"]))
    assert np.isnan(table.matrix[0, 1]) and np.isnan(table.matrix[1, 0])
    assert str(table.matrix[1, 1]) == "-0.0"
    with pytest.raises(InvalidInputError, match="Column 'b' expects double"):
        compiled(IRIS).decode(ScoringRequest("csv", CsvRows("1,true\n"), columns=["a", "b"]))


def test_tensor_shape_and_dtype_are_checked_and_one_row_may_drop_the_batch_axis():
    tensor = compiled(TENSOR).decode(ScoringRequest("array", [1, 2, 3]))
    assert tensor.value.shape == (1, 3) and tensor.value.dtype == np.float32
    with pytest.raises(InvalidInputError, match=r"expects shape \(-1, 3\), got \(2, 2\)"):
        compiled(TENSOR).decode(ScoringRequest("array", [[1, 2], [3, 4]]))
    with pytest.raises(InvalidInputError, match="not a rectangular array of numbers"):
        compiled(TENSOR).decode(ScoringRequest("array", [["a", "b", "c"]]))


def test_params_are_checked_against_the_param_schema():
    signature = compiled(TENSOR)
    assert signature.check_params({"scale": 2}) == {"scale": 2.0}
    assert signature.check_params(None) is None
    with pytest.raises(InvalidInputError, match="'scale' expects double"):
        signature.check_params({"scale": "x"})
    with pytest.raises(InvalidInputError, match="takes no params"):
        compiled(IRIS).check_params({"scale": 1.0})


def test_a_request_without_rows_is_refused():
    with pytest.raises(InvalidInputError, match="no rows"):
        compiled(IRIS).decode(ScoringRequest("array", []))

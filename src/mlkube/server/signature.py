"""A model signature compiled once at load into a cheap validator and decoder.

MLflow's pyfunc ``predict`` spends most of a one-row call building a DataFrame and
enforcing the schema on it. The server instead checks each request against the
signature once, here, with a few numpy calls, and produces exactly the arrays the
model needs (a float matrix in signature column order, typed columns, or a tensor).
Every error names the column (or tensor, or param) and what it expects.

Pure: works on the signature's dict form (``ModelSignature.to_dict()``) and on the
neutral requests of ``formats``; it never imports mlflow.

Its length is the MLflow schema's: every column and tensor type, with its check and
its conversion, in one table-like file.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlkube.errors import InvalidInputError
from mlkube.server.formats import CsvRows, ScoringRequest, all_dicts
from mlkube.server.v2_inputs import check_v2_input, flatten

# MLflow column types this module can check and convert itself; any other type
# (datetime, binary, array, object, map) goes to pyfunc's own enforcement as is.
_NUMPY_TYPES = {
    "double": np.float64,
    "float": np.float32,
    "long": np.int64,
    "integer": np.int32,
    "boolean": np.bool_,
    "string": np.object_,
}
_FLOAT_TYPES = frozenset({"double", "float"})
_INT_TYPES = frozenset({"long", "integer"})
_EXPECTED = {
    "double": "a number",
    "float": "a number",
    "long": "an integer",
    "integer": "an integer",
    "boolean": "true or false",
    "string": "a string",
}


@dataclasses.dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str
    required: bool = True


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    name: str | None
    dtype: str
    shape: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str
    default: Any = None
    shape: tuple[int, ...] | None = None


@dataclasses.dataclass(frozen=True)
class InputSignature:
    """The input side of a model signature: columns, or tensors, or nothing."""

    columns: tuple[ColumnSpec, ...] = ()
    tensors: tuple[TensorSpec, ...] = ()
    params: tuple[ParamSpec, ...] = ()

    @classmethod
    def from_mlflow_dict(cls, signature: Mapping[str, Any] | None) -> InputSignature:
        """Parse ``ModelSignature.to_dict()`` (its values are JSON strings)."""
        if not signature:
            return cls()
        inputs = _json_list(signature.get("inputs"))
        params = _json_list(signature.get("params"))
        columns: list[ColumnSpec] = []
        tensors: list[TensorSpec] = []
        for item in inputs:
            if item.get("type") == "tensor":
                spec = item.get("tensor-spec", {})
                tensors.append(TensorSpec(item.get("name"), str(spec.get("dtype")),
                                          tuple(spec.get("shape") or ())))
            else:
                columns.append(ColumnSpec(str(item.get("name", len(columns))),
                                          str(item.get("type")),
                                          bool(item.get("required", True))))
        return cls(
            columns=tuple(columns),
            tensors=tuple(tensors),
            params=tuple(
                ParamSpec(p["name"], str(p.get("type")), p.get("default"),
                          tuple(p["shape"]) if p.get("shape") else None)
                for p in params
            ),
        )

    @property
    def kind(self) -> str:
        """``columns``, ``tensor`` or ``none`` (no signature: anything goes)."""
        if self.columns:
            return "columns"
        if self.tensors:
            return "tensor"
        return "none"


def _json_list(value: Any) -> list[dict[str, Any]]:
    if not value:
        return []
    if isinstance(value, str):
        return list(json.loads(value))
    return list(value)


# --- what the model receives ----------------------------------------------------------


@dataclasses.dataclass
class Table:
    """Validated tabular input: one typed array per column, in signature order.

    ``matrix`` is the same data as one float64 array (rows x columns) when every
    column is a double, the form tree models are fastest on.
    """

    columns: dict[str, Any]
    n_rows: int
    matrix: Any = None

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.columns)

    def __len__(self) -> int:
        return self.n_rows


@dataclasses.dataclass
class Tensor:
    """Validated tensor input (one array, or named arrays for a multi-tensor model)."""

    value: Any

    def __len__(self) -> int:
        first = self.value if not isinstance(self.value, dict) else next(iter(self.value.values()))
        return int(first.shape[0]) if getattr(first, "ndim", 0) else 1


ModelInput = Table | Tensor


class CompiledSignature:
    """Turns neutral scoring requests into validated model input, per the signature."""

    def __init__(self, signature: InputSignature) -> None:
        self.signature = signature
        self.column_names = tuple(c.name for c in signature.columns)
        self._index = {name: i for i, name in enumerate(self.column_names)}
        self.all_double = bool(signature.columns) and all(
            c.type == "double" for c in signature.columns
        )
        # Every column has a type this module checks: pyfunc's enforcement is redundant.
        self.fully_checked = all(c.type in _NUMPY_TYPES for c in signature.columns)
        self._params = {p.name: p for p in signature.params}
        # A record's values in signature order, as a tuple (all-double signatures of two
        # columns or more: itemgetter of one name gives the bare value).
        self._row_of_record = operator.itemgetter(*self.column_names) if (
            self.all_double and len(self.column_names) > 1) else None

    # -- entry point ---------------------------------------------------------------------

    def decode(self, request: ScoringRequest) -> ModelInput:
        kind = self.signature.kind
        if kind == "tensor":
            return self._decode_tensor(request)
        table = self._decode_table(request)
        if table.n_rows == 0:
            raise InvalidInputError("The request has no rows to score.",
                                    hint=self._row_hint())
        return table

    # -- params --------------------------------------------------------------------------

    def check_params(self, params: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """Params checked against the signature's param schema (None when none given)."""
        if params is None:
            return None
        if not isinstance(params, Mapping):
            raise InvalidInputError(
                '"params" must be a JSON object of name: value.',
                hint='Send e.g. "params": {"temperature": 0.5}.',
            )
        if not params:
            return None
        if not self._params:
            raise InvalidInputError(
                f"This model takes no params, but the request has {sorted(params)}.",
                hint='Remove "params" from the request.',
            )
        checked: dict[str, Any] = {}
        for name, value in params.items():
            spec = self._params.get(name)
            if spec is None:
                raise InvalidInputError(
                    f"Unknown param {name!r}.",
                    hint=f"This model's params are: {', '.join(sorted(self._params))}.",
                )
            checked[name] = _check_param(spec, value)
        return checked

    # -- tables --------------------------------------------------------------------------

    def _decode_table(self, request: ScoringRequest) -> Table:
        kind = request.kind
        booleans = request.booleans
        if kind == "array":
            return self._table_from_rows(request.data, None, booleans)
        if kind == "split":
            return self._table_from_rows(request.data, request.columns, booleans)
        if kind == "records":
            return self._table_from_records(request.data, booleans)
        if kind == "columns":
            return self._table_from_mapping(request.data, booleans)
        if kind == "csv":
            return self._table_from_csv(request.columns or [], request.data)
        if kind == "v2":
            return self._table_from_v2(request.data, booleans)
        raise InvalidInputError(f"Unsupported request kind {kind!r}.")  # pragma: no cover

    def _table_from_rows(self, rows: Any, columns: Sequence[str] | None,
                         booleans: bool) -> Table:
        if not isinstance(rows, list):
            raise InvalidInputError(
                "The rows must be a JSON array of rows (arrays of values).",
                hint=self._row_hint(),
            )
        if rows and not isinstance(rows[0], list):
            # A single row given flat: [1, 2, 3, 4].
            rows = [rows]
        if self.signature.kind == "none":
            return _untyped_table(rows, columns)
        names = self.column_names if columns is None else tuple(str(c) for c in columns)
        if columns is not None:
            self._check_given_columns(names)
        if self.all_double and self._covers(names) and not (
                booleans and _rows_hold_booleans(rows)):
            matrix = _float_matrix(rows, len(names))
            if matrix is not None:
                return self._table_of_matrix(matrix, names)
        width = len(names)
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != width:
                got = len(row) if isinstance(row, list) else type(row).__name__
                raise InvalidInputError(
                    f"Row {i} has {got} values; expected {width} "
                    f"({', '.join(names)}).",
                    hint=self._row_hint(),
                )
        position = {n: i for i, n in enumerate(names)}
        values = {n: [row[position[n]] for row in rows] for n in self.column_names if n in position}
        return self._typed_table(values, len(rows), booleans)

    def _table_from_records(self, records: Any, booleans: bool) -> Table:
        if not isinstance(records, list) or not all_dicts(records):
            raise InvalidInputError(
                "Records must be a JSON array of objects ({column: value}).",
                hint=self._row_hint(),
            )
        if self.signature.kind == "none":
            names = list(records[0]) if records else []
            return _untyped_table([[r.get(n) for n in names] for r in records], names)
        present = set(records[0]) if records else set()
        self._check_given_columns(tuple(present))
        if self._row_of_record is not None and not booleans and records:
            # One C-level getter per record, its values chained into one list and one
            # numpy conversion, instead of a list per column and an array each. A record
            # without some column (its value is then missing) or a value that is no
            # number: the per-column path below, which names what is wrong.
            try:
                flat: list[Any] | None = list(itertools.chain.from_iterable(
                    map(self._row_of_record, records)))
            except KeyError:
                flat = None
            width = len(self.column_names)
            matrix = None if flat is None else _flat_float_matrix(flat, width)
            if matrix is not None:
                return self._table_of_matrix(matrix, self.column_names)
        values = {c: [r.get(c) for r in records] for c in self.column_names if c in present}
        return self._typed_table(values, len(records), booleans)

    def _table_from_mapping(self, mapping: Any, booleans: bool) -> Table:
        columns = {k: (v if isinstance(v, list) else [v]) for k, v in mapping.items()}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise InvalidInputError(
                "The columns have different lengths: "
                + ", ".join(f"{k}={len(v)}" for k, v in columns.items()) + ".",
                hint="Give every column the same number of values (one per row).",
            )
        n_rows = lengths.pop() if lengths else 0
        if self.signature.kind == "none":
            return Table({k: np.asarray(v) for k, v in columns.items()}, n_rows)
        self._check_given_columns(tuple(columns))
        return self._typed_table({c: columns[c] for c in self.column_names if c in columns},
                                 n_rows, booleans)

    def _table_from_csv(self, header: Sequence[str], cells: CsvRows) -> Table:
        if self.signature.kind == "none":
            return _untyped_table(cells.rows(), list(header))
        self._check_given_columns(tuple(header))
        position = {n: i for i, n in enumerate(header)}
        if self.all_double and self._covers(header):
            matrix = cells.matrix(len(header))
            if matrix is None:
                numbers = cells.numbers()
                matrix = None if numbers is None else _float_matrix(numbers, len(header))
            if matrix is not None:
                return self._table_of_matrix(matrix, header)
        rows = cells.rows()
        values: dict[str, list[Any]] = {}
        for spec in self.signature.columns:
            if spec.name not in position:
                continue
            j = position[spec.name]
            values[spec.name] = [_parse_csv_cell(row[j] if j < len(row) else "", spec, i)
                                 for i, row in enumerate(rows)]
        return self._typed_table(values, len(rows), False)

    def _table_from_v2(self, items: list[dict[str, Any]], booleans: bool) -> Table:
        inputs = [check_v2_input(item, booleans=booleans, floats=False) for item in items]
        if len(inputs) == 1 and inputs[0].name not in self._index:
            # One input carrying the whole table, shape [rows, columns] (or [columns]).
            table = inputs[0]
            width = len(self.column_names) or (table.shape[-1] if table.shape else 1)
            if self.column_names and table.shape[-1:] != (width,) or len(table.shape) > 2:
                raise InvalidInputError(
                    f"{table.label} has shape {list(table.shape)}, but this model takes one "
                    f"input of shape [rows, {width}] ({', '.join(self.column_names)}).",
                    hint=f"Send shape [rows, {width}] with the columns in signature order, "
                    "or one input per column named after it.",
                )
            values = table.values
            rows = [values[i:i + width] for i in range(0, len(values), max(width, 1))]
            return self._table_from_rows(rows, None, booleans)
        for column in inputs:
            if len(column.shape) > 2 or column.shape[1:] not in ((), (1,)):
                raise InvalidInputError(
                    f"{column.label} has shape {list(column.shape)}, but an input named after "
                    "a column holds one value per row.",
                    hint="Send each column's input with shape [rows] (or [rows, 1]).",
                )
        return self._table_from_mapping({i.name: i.values for i in inputs}, booleans)

    def _covers(self, given: Sequence[str]) -> bool:
        """Whether ``given`` names every signature column (in any order, maybe more)."""
        return tuple(given) == self.column_names or set(given) >= set(self.column_names)

    def _table_of_matrix(self, matrix: Any, given: Sequence[str]) -> Table:
        """A float matrix whose columns are ``given`` as the table of the signature's
        columns, in signature order (a name given twice counts at its last place, as the
        per-column paths read it)."""
        if tuple(given) != self.column_names:
            position = {n: i for i, n in enumerate(given)}
            matrix = np.ascontiguousarray(matrix[:, [position[n] for n in self.column_names]])
        return Table({n: matrix[:, i] for i, n in enumerate(self.column_names)}, len(matrix),
                     matrix)

    def _check_given_columns(self, given: Sequence[str]) -> None:
        present = set(given)
        missing = [c for c in self.signature.columns if c.required and c.name not in present]
        if missing:
            raise InvalidInputError(
                "Missing column" + ("s " if len(missing) > 1 else " ")
                + ", ".join(f"{c.name!r} ({c.type})" for c in missing) + ".",
                hint=f"The model expects the columns {', '.join(self.column_names)}.",
            )

    def _typed_table(self, values: dict[str, list[Any]], n_rows: int, booleans: bool) -> Table:
        columns = {}
        for spec in self.signature.columns:
            if spec.name in values:
                columns[spec.name] = _typed_column(values[spec.name], spec, booleans)
        matrix = None
        if self.all_double and len(columns) == len(self.column_names):
            matrix = np.column_stack([columns[n] for n in self.column_names]) if n_rows else \
                np.empty((0, len(self.column_names)))
        return Table(columns, n_rows, matrix)

    def _row_hint(self) -> str:
        if not self.column_names:
            return 'Send e.g. {"input_data": [[...], [...]]}.'
        return (f'Send e.g. {{"data": [[...]]}} with the values of {", ".join(self.column_names)} '
                f'in this order, or {{"input_data": {{"columns": [...], "data": [[...]]}}}}.')

    # -- tensors -------------------------------------------------------------------------

    def _decode_tensor(self, request: ScoringRequest) -> Tensor:
        specs = self.signature.tensors
        kind = request.kind
        named: dict[str | None, Any]
        if kind == "v2":
            named = {i.name: i.to_array() for i in
                     (check_v2_input(item, booleans=request.booleans) for item in request.data)}
        elif kind in ("columns", "records"):
            if kind == "records":
                raise InvalidInputError(
                    "This model takes a tensor, not records of columns.",
                    hint='Send {"input_data": [[...]]} (or "instances"/"inputs").',
                )
            named = dict(request.data)
        elif kind in ("array", "split"):
            named = {specs[0].name or "input": request.data}
        elif len(specs) == 1 and len(specs[0].shape) == 2:
            # CSV rows are the rows of a 2-D tensor: the header names its columns, the
            # cells are read as JSON numbers would be (then cast to the tensor's dtype).
            named = {specs[0].name or "input": _csv_numbers(request.data.rows(), specs[0])}
        else:
            raise InvalidInputError(
                "This model takes "
                + ("several tensors" if len(specs) > 1 else "a tensor that is not 2-D")
                + "; CSV input holds one 2-D tensor (rows by columns).",
                hint='Send {"input_data": [[...]]} (or {"inputs": {name: [...]}}).',
            )
        if len(specs) == 1:
            if len(named) != 1:
                raise InvalidInputError(
                    f"This model takes one tensor, but the request has {len(named)}: "
                    f"{', '.join(map(str, named))}.",
                    hint='Send {"input_data": [[...]]}.',
                )
            return Tensor(_typed_tensor(next(iter(named.values())), specs[0],
                                        request.booleans))
        by_name = {s.name: s for s in specs}
        missing = [n for n in by_name if n not in named]
        if missing:
            raise InvalidInputError(
                f"Missing tensor input(s) {', '.join(map(repr, missing))}.",
                hint=f"The model expects the tensors {', '.join(map(str, by_name))}.",
            )
        return Tensor({n: _typed_tensor(named[n], by_name[n], request.booleans)
                       for n in by_name})


# --- pure helpers ------------------------------------------------------------------------


def _float_matrix(rows: Sequence[Any], width: int) -> Any:
    """Rows as one float64 matrix when they are all numbers of the right width, else None
    (the slower per-column path then finds and names what is wrong).

    The rows are flattened first: numpy reads a flat list of numbers in about half the
    time it takes to discover the shape of a list of lists (a tenth of a 10,000-row
    request's CPU). A row that is no list, or holds a string, null or a nested list,
    gives a width, dtype or shape that is refused here."""
    try:
        if set(map(len, rows)) != {width}:
            return None
        values = list(itertools.chain.from_iterable(rows))
    except TypeError:
        return None
    return _flat_float_matrix(values, width)


def _flat_float_matrix(values: list[Any], width: int) -> Any:
    """Row after row of ``width`` values as a float64 matrix when every one is a number,
    else None."""
    try:
        flat = np.array(values)
    except (ValueError, TypeError):
        return None
    if flat.ndim != 1 or flat.dtype.kind not in "fiu" or len(flat) % width:
        return None
    return flat.astype(np.float64, copy=False).reshape(len(flat) // width, width)


def _rows_hold_booleans(rows: list[Any]) -> bool:
    """Whether a JSON ``true``/``false`` sits among the rows' values: numpy would read it
    as 1.0 or 0.0 in a float matrix."""
    for row in rows:
        if isinstance(row, list):
            for value in row:
                if value.__class__ is bool:
                    return True
    return False


def _typed_column(values: list[Any], spec: ColumnSpec, booleans: bool = True) -> Any:
    dtype = _NUMPY_TYPES.get(spec.type)
    if dtype is None:
        return np.asarray(values, dtype=object)
    if spec.type == "string":
        for i, v in enumerate(values):
            if not isinstance(v, str) and not (v is None and not spec.required):
                raise _type_error(spec, v, i)
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array
    if spec.type == "boolean":
        for i, v in enumerate(values):
            if not isinstance(v, bool):
                raise _type_error(spec, v, i)
        return np.asarray(values, dtype=np.bool_)
    if booleans:
        for i, v in enumerate(values):
            if v.__class__ is bool:
                raise _type_error(spec, v, i)
    try:
        array = np.array(values)
    except (ValueError, TypeError):
        array = np.array(values, dtype=object)
    if array.ndim != 1 or array.dtype.kind not in "iuf":
        # Find the first offender to name it; None is a missing value in float columns.
        for i, v in enumerate(values):
            if v is None and spec.type in _FLOAT_TYPES:
                continue
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise _type_error(spec, v, i)
        array = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    if spec.type in _INT_TYPES:
        if array.dtype.kind == "f":
            bad = np.flatnonzero(~np.isfinite(array) | (array != np.floor(array)))
            if bad.size:
                i = int(bad[0])
                raise _type_error(spec, values[i], i)
        info = np.iinfo(dtype)
        if array.size and (array.min() < info.min or array.max() > info.max):
            i = int(np.flatnonzero((array < info.min) | (array > info.max))[0])
            raise InvalidInputError(
                f"Column {spec.name!r} expects {spec.type}, but row {i} has {values[i]}, "
                f"outside its range {info.min}..{info.max}.",
                hint=f"Send integers that fit {spec.type} for {spec.name!r}.")
    return array.astype(dtype, copy=False)


def _type_error(spec: ColumnSpec, value: Any, row: int) -> InvalidInputError:
    return InvalidInputError(
        f"Column {spec.name!r} expects {spec.type} ({_EXPECTED.get(spec.type, spec.type)}), "
        f"but row {row} has a {_json_type(value)}.",
        hint=f"Send {_EXPECTED.get(spec.type, spec.type)} for {spec.name!r} in every row.",
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "non-integer number" if not float(value).is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _parse_csv_cell(cell: str, spec: ColumnSpec, row: int) -> Any:
    if spec.type in _FLOAT_TYPES:
        if cell == "":
            return None
        try:
            return float(cell)
        except ValueError:
            raise _type_error(spec, cell, row) from None
    if spec.type in _INT_TYPES:
        try:
            return int(cell)
        except ValueError:
            raise _type_error(spec, cell, row) from None
    if spec.type == "boolean":
        lowered = cell.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise _type_error(spec, cell, row)
    return cell


def _csv_numbers(rows: list[list[str]], spec: TensorSpec) -> list[list[Any]]:
    """CSV cells as numbers for a tensor: ``int`` for integer dtypes, else ``float``."""
    kind = np.dtype(spec.dtype).kind
    if kind not in "iuf":
        raise InvalidInputError(
            f"This model's tensor is {spec.dtype}; CSV input is read as numbers.",
            hint='Send {"input_data": [[...]]}.')
    parse = int if kind in "iu" else float
    label = repr(spec.name) if spec.name else "the input tensor"
    try:
        return [[parse(cell) for cell in row] for row in rows]
    except ValueError:
        for i, row in enumerate(rows):
            for j, cell in enumerate(row):
                try:
                    parse(cell)
                except ValueError:
                    raise InvalidInputError(
                        f"CSV row {i}, column {j} is not a number; {label} "
                        f"expects {spec.dtype} values.",
                        hint=f"Send {'integers' if parse is int else 'numbers'} in every "
                        "cell.") from None
        raise  # pragma: no cover  (some cell failed above)


def _untyped_table(rows: list[Any], columns: Sequence[str] | None) -> Table:
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(columns) if columns is not None else None)
    return Table({c: frame[c].to_numpy() for c in frame.columns}, len(frame))


def _typed_tensor(data: Any, spec: TensorSpec, booleans: bool = True) -> Any:
    label = repr(spec.name) if spec.name else "The input tensor"
    if booleans and spec.dtype != "bool" and isinstance(data, list) and any(
            v.__class__ is bool for v in flatten(data)):
        raise InvalidInputError(
            f"{label} expects {spec.dtype} values, but the data holds a boolean (true or "
            "false).", hint=f"Send numbers for {spec.dtype}, not true or false.")
    try:
        array = np.asarray(data, dtype=np.dtype(spec.dtype))
    except (ValueError, TypeError):
        raise InvalidInputError(
            f"{label} expects {spec.dtype} values of shape {_shape_text(spec.shape)}, "
            "but the data is not a rectangular array of numbers.",
            hint="Send a nested JSON array of numbers, one inner array per row.",
        ) from None
    shape = spec.shape
    if shape and array.ndim == len(shape) - 1 and array.ndim >= 1:
        array = array.reshape((1, *array.shape))  # one row sent without the batch axis
    if shape and (array.ndim != len(shape) or any(
        want not in (-1, got) for want, got in zip(shape, array.shape, strict=False)
    )):
        raise InvalidInputError(
            f"{label} expects shape {_shape_text(shape)}, got {_shape_text(array.shape)}.",
            hint="Send one inner array per row with the expected number of values.",
        )
    return array


def _shape_text(shape: Sequence[int]) -> str:
    return "(" + ", ".join("-1" if s == -1 else str(s) for s in shape) + ")"


def _check_param(spec: ParamSpec, value: Any) -> Any:
    kind = spec.type
    ok = True
    if spec.shape is not None:
        ok = isinstance(value, list)
    elif kind in ("double", "float"):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif kind in ("long", "integer"):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "string":
        ok = isinstance(value, str)
    if not ok:
        raise InvalidInputError(
            f"Param {spec.name!r} expects {kind}"
            + (" (a list)" if spec.shape is not None else "")
            + f", got a {_json_type(value)}.",
            hint=f"Send {spec.name!r} as {_EXPECTED.get(kind, kind)}"
            f" (default {spec.default!r}).",
        )
    return value

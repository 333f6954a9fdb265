"""The same rows in every request format the no-code server accepts: shared by the
prediction tests and bench/big_bodies.py, so the benchmark sends exactly what the tests
prove equal to pyfunc."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson


def _v2_datatype(values: list[Any]) -> str:
    if all(isinstance(v, str) for v in values):
        return "BYTES"
    if all(isinstance(v, bool) for v in values):
        return "BOOL"
    if all(isinstance(v, int) for v in values):
        return "INT64"
    return "FP64"


def table_bodies(columns: list[str], rows: list[list[Any]]) -> dict[str, tuple[bytes, str]]:
    """The same rows in every accepted format: name -> (body, content type)."""
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    by_column = {c: [row[i] for row in rows] for i, c in enumerate(columns)}
    split = {"columns": columns, "index": list(range(len(rows))), "data": rows}
    documents = {
        "data-rows": {"data": rows},
        "data-records": {"data": records},
        "input_data-split": {"input_data": split},
        "input_data-rows": {"input_data": rows},
        "input_data-columns": {"input_data": by_column},
        "dataframe_split": {"dataframe_split": {"columns": columns, "data": rows}},
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records},
        "inputs": {"inputs": by_column},
        "v2": {"inputs": [{"name": c, "shape": [len(rows)], "datatype": _v2_datatype(v),
                           "data": v} for c, v in by_column.items()]},
        "split-reordered": {"dataframe_split": {
            "columns": columns[::-1], "data": [row[::-1] for row in rows]}},
    }
    bodies = {name: (orjson.dumps(doc), "application/json") for name, doc in documents.items()}
    text = io.StringIO()
    csv.writer(text).writerows([columns, *rows])
    bodies["csv"] = (text.getvalue().encode(), "text/csv")
    return bodies


def tensor_bodies(rows: list[list[float]]) -> dict[str, tuple[bytes, str]]:
    documents = {
        "data": {"data": rows},
        "input_data": {"input_data": rows},
        "instances": {"instances": rows},
        "inputs": {"inputs": rows},
        "dataframe_split-no-columns": {"dataframe_split": {"data": rows}},
        "v2": {"inputs": [{"name": "input", "shape": [len(rows), len(rows[0])],
                           "datatype": "FP32", "data": [v for r in rows for v in r]}]},
    }
    return {name: (orjson.dumps(doc), "application/json") for name, doc in documents.items()}

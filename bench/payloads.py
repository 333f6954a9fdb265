"""Request bodies and answer decoding for each server's own request format.

Every server gets the same rows, each in the format it accepts, and every answer is turned
back into a (rows x classes) array so one comparison decides whether a server is right.
Pure functions: no I/O here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

Rows = Sequence[Sequence[float]]


@dataclass(frozen=True)
class BodyFormat:
    """One request format: its name in the tables, its encoder and its answer decoder."""

    name: str
    label: str

    def encode(self, rows: Rows, *, columns: Sequence[str]) -> bytes:
        return _ENCODERS[self.name](rows, columns)

    def decode(self, answer: bytes) -> np.ndarray:
        return _DECODERS[self.name](orjson.loads(answer))


def _encode_azureml_data(rows: Rows, columns: Sequence[str]) -> bytes:
    return orjson.dumps({"data": [list(r) for r in rows]})


def _encode_mlflow_split(rows: Rows, columns: Sequence[str]) -> bytes:
    return orjson.dumps({"dataframe_split": {"columns": list(columns),
                                             "data": [list(r) for r in rows]}})


def _encode_v2_columns(rows: Rows, columns: Sequence[str]) -> bytes:
    # One v2 input per signature column, which MLServer's MLflow runtime decodes into a
    # DataFrame with the pandas codec ("pd").
    inputs = [
        {"name": name, "datatype": "FP64", "shape": [len(rows), 1],
         "data": [float(r[i]) for r in rows]}
        for i, name in enumerate(columns)
    ]
    return orjson.dumps({"inputs": inputs, "parameters": {"content_type": "pd"}})


def _encode_v2_tensor(rows: Rows, columns: Sequence[str]) -> bytes:
    # One (rows x features) FP64 tensor, row-major: what a Triton model bound to one
    # input of shape (features,) takes.
    return orjson.dumps({"inputs": [{"name": "input", "datatype": "FP64",
                                     "shape": [len(rows), len(columns)],
                                     "data": [float(v) for r in rows for v in r]}]})


def _decode_bare_or_predictions(answer: Any) -> np.ndarray:
    # Azure ML's /score answers bare JSON; MLflow's /invocations wraps it in "predictions".
    if isinstance(answer, dict) and "predictions" in answer:
        answer = answer["predictions"]
    return np.asarray(answer, dtype=np.float64)


def _decode_v2_outputs(answer: Any) -> np.ndarray:
    outputs = answer["outputs"]
    if len(outputs) == 1:
        out = outputs[0]
        return np.asarray(out["data"], dtype=np.float64).reshape(out["shape"])
    # One output per class column: stack them side by side.
    return np.column_stack([np.asarray(o["data"], dtype=np.float64).reshape(-1)
                            for o in outputs])


_ENCODERS = {
    "azureml-data": _encode_azureml_data,
    "mlflow-split": _encode_mlflow_split,
    "v2-columns": _encode_v2_columns,
    "v2-tensor": _encode_v2_tensor,
}
_DECODERS = {
    "azureml-data": _decode_bare_or_predictions,
    "mlflow-split": _decode_bare_or_predictions,
    "v2-columns": _decode_v2_outputs,
    "v2-tensor": _decode_v2_outputs,
}

AZUREML_DATA = BodyFormat("azureml-data", '`{"data": [[...]]}`')
MLFLOW_SPLIT = BodyFormat("mlflow-split", '`{"dataframe_split": {...}}`')
V2_COLUMNS = BodyFormat("v2-columns", "v2 `inputs`, one FP64 input per column")
V2_TENSOR = BodyFormat("v2-tensor", "v2 `inputs`, one FP64 (rows × 4) tensor")


def answers_match(got: np.ndarray, expected: np.ndarray) -> bool:
    """Whether a server's answer equals the in-process prediction (to float printing)."""
    got = np.asarray(got, dtype=np.float64)
    if got.shape != expected.shape:
        return False
    return bool(np.allclose(got, expected, rtol=1e-7, atol=1e-12))

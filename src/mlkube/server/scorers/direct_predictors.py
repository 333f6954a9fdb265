"""Calling an XGBoost or ONNX model directly, where that is provably what pyfunc does.

pyfunc's ``predict`` on one row spends most of its time building a DataFrame and
enforcing the schema, which the server has already done (``signature.py``). For these
two flavors the server therefore calls the flavor's own model on the validated input,
doing exactly what MLflow's wrapper does with it and nothing else:

- XGBoost ``Booster``: the wrapper calls ``booster.predict(DMatrix(frame))``; a float64
  frame becomes the same float32 entries as the float64 matrix ``inplace_predict`` reads,
  through the same predictor, with NaN as missing in both, so values, dtype and shape are
  the same. Small requests run on a one-thread copy of the booster: rows are scored
  independently, so the thread count cannot change them, and OpenMP's fork/join costs
  more than the trees on a row or two (on a busy machine, milliseconds).
- ONNX: the wrapper feeds a single-tensor model ``{first input: array}``, casts float64 to
  float32 where the graph takes ``tensor(float)``, runs every output and returns
  ``dict(zip(output names, outputs))`` for array input; so does this, on the same session.

Anything else (other model types, several ONNX inputs, params, column signatures whose
types are not all double) stays on pyfunc. Tests pin the equality.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlkube.server.signature import CompiledSignature, ModelInput

Predictor = Callable[[ModelInput, "dict[str, Any] | None"], Any]

# Requests up to this many rows are predicted on one thread (as for LightGBM).
SINGLE_THREAD_ROWS = 512


def xgboost_predictor(raw: Any, signature: CompiledSignature) -> Predictor | None:
    """``inplace_predict`` on the float matrix, for a Booster with an all-double column
    signature (every column required, so every request has the whole matrix) and no
    params; None otherwise."""
    spec = signature.signature
    if not signature.all_double or spec.params or not all(c.required for c in spec.columns):
        return None
    import xgboost

    if not isinstance(raw, xgboost.Booster):
        return None
    booster = raw
    single_thread = booster.copy()
    single_thread.set_param({"nthread": 1})

    def predict_xgboost(data: Any, _params: Any) -> Any:
        model = single_thread if data.n_rows <= SINGLE_THREAD_ROWS else booster
        return model.inplace_predict(data.matrix)

    return predict_xgboost


def onnx_predictor(raw: Any, signature: CompiledSignature) -> Predictor | None:
    """``session.run`` on the validated tensor, for a model with one input, a one-tensor
    signature and no params; None otherwise."""
    spec = signature.signature
    if spec.kind != "tensor" or len(spec.tensors) != 1 or spec.params:
        return None
    import numpy as np

    inputs = raw.get_inputs() if hasattr(raw, "get_inputs") else None
    if not inputs or len(inputs) != 1 or not hasattr(raw, "run"):
        return None
    session = raw
    input_name = inputs[0].name
    casts_to_float32 = inputs[0].type == "tensor(float)"
    output_names = [output.name for output in session.get_outputs()]

    def predict_onnx(data: Any, _params: Any) -> Any:
        array = data.value
        if casts_to_float32 and array.dtype == np.float64:
            array = array.astype(np.float32)
        return dict(zip(output_names, session.run(output_names, {input_name: array}),
                        strict=True))

    return predict_onnx

"""Calling a LightGBM, XGBoost or ONNX model directly, where that is provably what pyfunc
does.

pyfunc's ``predict`` on one row spends most of its time building a DataFrame and
enforcing the schema, which the server has already done (``signature.py``). For these
flavors the server therefore calls the flavor's own model on the validated input,
doing exactly what MLflow's wrapper does with it and nothing else:

- LightGBM ``Booster``: the wrapper calls ``booster.predict(frame)``, which LightGBM
  turns into the same float64 matrix the server builds; the server makes the C calls
  ``Booster.predict`` makes, with their per-model work done once (``booster_predictor``).
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

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from mlkube.server.signature import CompiledSignature, ModelInput, Table

logger = logging.getLogger("mlkube.server")

Predictor = Callable[[ModelInput, "dict[str, Any] | None"], Any]

# Requests up to this many rows are predicted on one thread: rows are scored
# independently, so the thread count cannot change them, and for small requests OpenMP's
# fork/join (and its spinning on a busy machine) costs far more than the trees.
SINGLE_THREAD_ROWS = 512

# LightGBM's C API constants (c_api.h), as its Python package passes them.
_PREDICT_NORMAL = 0
_DTYPE_FLOAT64 = 1
_COL_MAJOR, _ROW_MAJOR = 0, 1
_ONE_THREAD, _ALL_THREADS = b"num_threads=1", b""


# The predictors here that are one call into a library's compiled code on the validated
# input: no Python of the user's, nothing that waits (Scorer.may_run_inline).
COMPILED_PREDICTORS = frozenset({"lightgbm-booster", "xgboost-booster", "onnx-session"})

# What a direct path raises at load when a library's internals are not the ones it was
# written against (a private name gone, a symbol missing): the public call serves then.
_NOT_AS_EXPECTED = (AttributeError, OSError, TypeError, ValueError)


def _same_on_probes(mine: Predictor, reference: Predictor, width: int) -> bool:
    """Whether ``mine`` answers ``reference``'s exact bytes (values, dtype, shape) on
    probe batches: one row, several (zeros, missing and huge values among them, in both
    memory layouts) and more than SINGLE_THREAD_ROWS (the all-threads path)."""
    rng = np.random.default_rng(0)
    several = rng.normal(0.0, 3.0, (7, width))
    several[0] = 0.0
    several[1, ::2] = np.nan
    several[2] = 1e30
    probes = [rng.normal(0.0, 3.0, (1, width)), several, np.asfortranarray(several),
              rng.normal(0.0, 3.0, (SINGLE_THREAD_ROWS + 1, width))]
    for matrix in probes:
        table = Table({}, len(matrix), matrix)
        got, expected = mine(table, None), reference(table, None)
        if (got.shape != expected.shape or got.dtype != expected.dtype
                or got.tobytes() != expected.tobytes()):
            return False
    return True


def booster_predictor(booster: Any) -> tuple[Predictor, str]:
    """The predictor for a Booster whose input is a float64 matrix in signature order.

    ``Booster.predict`` spends most of a small request in Python before the trees run
    (a one-row predict: about 40 µs of Python around 5 µs of trees): it builds a
    predictor object, re-reads the class count and parameters, and asks for the output
    size. The same C calls are made here with everything that cannot change between
    requests worked out once, and one row goes through LightGBM's single-row fast path
    (``LGBM_BoosterPredictForMatSingleRowFast``: the parsed config and row predictor are
    kept instead of rebuilt). Where LightGBM's internals are not as expected, or a probe
    at load does not give ``Booster.predict``'s bytes exactly, ``Booster.predict`` is
    used as before. Returns the predictor and its name for the load log
    (``lightgbm-booster``, or ``lightgbm-booster-python`` for ``Booster.predict``).
    """
    python = _python_predictor(booster)
    try:
        direct = _LightGBMCalls(booster, fallback=python)
    except _NOT_AS_EXPECTED as error:
        logger.info("LightGBM's C API is not called directly (%s); Booster.predict "
                    "serves", error)
        return python, "lightgbm-booster-python"
    if not _same_on_probes(direct.predict, python, direct.width):
        logger.warning("LightGBM's C API gave other bytes than Booster.predict on the "
                       "probe rows; Booster.predict serves")
        direct.close()
        return python, "lightgbm-booster-python"
    return direct.predict, "lightgbm-booster"


def _python_predictor(booster: Any) -> Predictor:
    # pyfunc calls booster.predict(DataFrame); LightGBM turns the float64 frame into the
    # same float64 matrix we build, so outputs are identical.
    def predict_booster(data: Any, _params: Any) -> Any:
        if data.n_rows <= SINGLE_THREAD_ROWS:
            return booster.predict(data.matrix, num_threads=1)
        return booster.predict(data.matrix)

    return predict_booster


class _LightGBMCalls:
    """``Booster.predict(matrix)``'s C calls with their per-model arguments fixed."""

    def __init__(self, booster: Any, *, fallback: Predictor) -> None:
        import ctypes

        from lightgbm import basic

        self._booster = booster  # keeps the handle alive
        self._fallback = fallback
        self._lib = basic._LIB
        self._error_class = basic.LightGBMError
        handle = booster._handle
        self._handle = handle
        self.width = booster.num_feature()
        # What Booster.predict passes when pyfunc calls it with no arguments.
        self._num_iteration = booster.best_iteration
        self._start_iteration = 0
        self._byref, self._int64 = ctypes.byref, ctypes.c_int64
        per_row = ctypes.c_int64(0)
        self._check(self._lib.LGBM_BoosterCalcNumPredict(
            handle, ctypes.c_int(1), ctypes.c_int(_PREDICT_NORMAL),
            ctypes.c_int(self._start_iteration), ctypes.c_int(self._num_iteration),
            ctypes.byref(per_row)))
        # Normal predictions are a fixed number per row (c_api.cpp: rows times
        # NumPredictOneRow), so one call at load sizes every answer.
        self._per_row = per_row.value
        # Own function objects (indexing a CDLL makes a new one), so the argument types
        # set here leave lightgbm's own untouched.
        self._predict_matrix = self._lib["LGBM_BoosterPredictForMat"]
        self._predict_matrix.argtypes = [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int32, ctypes.c_int32,
            ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
            ctypes.POINTER(ctypes.c_int64), ctypes.c_void_p]
        self._predict_matrix.restype = ctypes.c_int
        self._predict_row = self._lib["LGBM_BoosterPredictForMatSingleRowFast"]
        self._predict_row.argtypes = [ctypes.c_void_p, ctypes.c_void_p,
                                      ctypes.POINTER(ctypes.c_int64), ctypes.c_void_p]
        self._predict_row.restype = ctypes.c_int
        self._fast_config = ctypes.c_void_p()
        self._check(self._lib.LGBM_BoosterPredictForMatSingleRowFastInit(
            handle, ctypes.c_int(_PREDICT_NORMAL), ctypes.c_int(self._start_iteration),
            ctypes.c_int(self._num_iteration), ctypes.c_int(_DTYPE_FLOAT64),
            ctypes.c_int32(self.width), ctypes.c_char_p(_ONE_THREAD),
            ctypes.byref(self._fast_config)))

    def predict(self, data: Any, params: Any) -> Any:
        matrix = data.matrix
        rows, width = matrix.shape if matrix.ndim == 2 else (0, 0)
        if rows == 0 or width != self.width or matrix.dtype != np.float64:
            # LightGBM's own message for a wrong width, its own answer for no rows.
            return self._fallback(data, params)
        answer = np.empty(rows * self._per_row)
        written = self._int64(0)
        if rows == 1:
            # One row is the same values in either layout.
            matrix = np.ascontiguousarray(matrix)
            self._check(self._predict_row(self._fast_config.value, matrix.ctypes.data,
                                          self._byref(written), answer.ctypes.data))
        else:
            # As lightgbm's _np2d_to_np1d: a column-major matrix is passed as it is.
            if matrix.flags.f_contiguous:
                layout = _COL_MAJOR
            else:
                layout, matrix = _ROW_MAJOR, np.ascontiguousarray(matrix)
            self._check(self._predict_matrix(
                self._handle.value, matrix.ctypes.data, _DTYPE_FLOAT64, rows, width,
                layout, _PREDICT_NORMAL, self._start_iteration, self._num_iteration,
                _ONE_THREAD if rows <= SINGLE_THREAD_ROWS else _ALL_THREADS,
                self._byref(written), answer.ctypes.data))
        if self._per_row != 1:
            # Booster.predict's shape: (rows, classes) for multiclass, flat otherwise.
            answer = answer.reshape(rows, self._per_row)
        return answer

    def close(self) -> None:
        if self._fast_config.value:
            self._lib.LGBM_FastConfigFree(self._fast_config)
            self._fast_config.value = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass

    def _check(self, code: int) -> None:
        if code != 0:
            raise self._error_class(self._lib.LGBM_GetLastError().decode("utf-8"))


def xgboost_predictor(raw: Any,
                      signature: CompiledSignature) -> tuple[Predictor, str] | None:
    """``inplace_predict`` on the float matrix, for a Booster with an all-double column
    signature (every column required, so every request has the whole matrix) and no
    params; None otherwise.

    ``inplace_predict`` is called as XGBoost's own C call (``_XGBoostCalls``) with its
    arguments built once: on one row the Python around the call (JSON for the arguments
    and the array, the output's re-wrapping) cost more than the trees. Checked at load
    against ``inplace_predict`` itself, as LightGBM's is. Named ``xgboost-booster``, or
    ``xgboost-booster-python`` when ``inplace_predict`` serves.
    """
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

    try:
        direct = _XGBoostCalls(booster, single_thread, fallback=predict_xgboost)
    except _NOT_AS_EXPECTED as error:
        logger.info("XGBoost's C API is not called directly (%s); inplace_predict serves",
                    error)
        return predict_xgboost, "xgboost-booster-python"
    if not _same_on_probes(direct.predict, predict_xgboost, direct.width):
        logger.warning("XGBoost's C API gave other bytes than inplace_predict on the probe "
                       "rows; inplace_predict serves")
        return predict_xgboost, "xgboost-booster-python"
    return direct.predict, "xgboost-booster"


class _XGBoostCalls:
    """``Booster.inplace_predict(matrix)``'s C call (``XGBoosterPredictFromDense``) with
    its configuration JSON built once."""

    def __init__(self, booster: Any, single_thread: Any, *, fallback: Predictor) -> None:
        import ctypes

        from xgboost import core

        # Both boosters are kept: the handles below are theirs.
        self._boosters = (booster, single_thread)
        self._handles = (booster.handle.value, single_thread.handle.value)
        self._fallback = fallback
        self.width = booster.num_features()
        self._check = core._check_call
        # inplace_predict's own arguments for a value prediction, made by its own helper.
        self._config = core.make_jcargs(type=0, training=False, iteration_begin=0,
                                        iteration_end=0, missing=float("nan"),
                                        strict_shape=False, cache_id=0)
        self._predict = core._LIB["XGBoosterPredictFromDense"]  # own object: own argtypes
        self._predict.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p,
            ctypes.POINTER(ctypes.POINTER(ctypes.c_uint64)),
            ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.POINTER(ctypes.c_float))]
        self._predict.restype = ctypes.c_int
        self._ctypes = ctypes

    def predict(self, data: Any, params: Any) -> Any:
        matrix = data.matrix
        rows, width = matrix.shape if matrix.ndim == 2 else (0, 0)
        if rows == 0 or width != self.width or matrix.dtype != np.float64:
            # XGBoost's own message for a wrong width, its own answer for no rows.
            return self._fallback(data, params)
        ctypes = self._ctypes
        matrix = np.ascontiguousarray(matrix)
        # The array interface inplace_predict sends for a C-ordered float64 matrix.
        interface = (b'{"data": [%d, false], "strides": null, "descr": [["", "<f8"]], '
                     b'"typestr": "<f8", "shape": [%d, %d], "version": 3}'
                     % (matrix.ctypes.data, rows, width))
        shape = ctypes.POINTER(ctypes.c_uint64)()
        dims = ctypes.c_uint64()
        values = ctypes.POINTER(ctypes.c_float)()
        handle = self._handles[1] if rows <= SINGLE_THREAD_ROWS else self._handles[0]
        self._check(self._predict(handle, interface, self._config, None,
                                  ctypes.byref(shape), ctypes.byref(dims),
                                  ctypes.byref(values)))
        # XGBoost keeps the answer in the booster's per-thread buffer: copy it out.
        answer = np.empty(tuple(shape[i] for i in range(dims.value)), dtype=np.float32)
        ctypes.memmove(answer.ctypes.data, values, answer.nbytes)
        return answer


def onnx_predictor(raw: Any, signature: CompiledSignature) -> tuple[Predictor, str] | None:
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

    return predict_onnx, "onnx-session"

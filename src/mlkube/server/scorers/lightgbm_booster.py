"""A LightGBM Booster loaded the way MLflow's pyfunc loads it, without importing MLflow,
and predicted through LightGBM's C API with its per-model work done once.

Why this exists: an instance serving the iris model held about 250 MiB and took seconds
to start, and most of both went to modules the served predictor never touches. For a
plain ``lightgbm.Booster`` whose signature is all doubles and has no params, the
predictor is ``Booster.predict`` on a float matrix (see ``scorers/mlflow.py``), yet
``mlflow.pyfunc.load_model`` imports MLflow (FastAPI, OpenTelemetry, protobuf, pandas,
pyarrow...), and ``import lightgbm`` imports pandas and scikit-learn (and SciPy) only to
offer its optional DataFrame and scikit-learn APIs. Loading the booster directly, with
those optional imports held back, serves the same trees from a fraction of the memory.

What stays identical: MLflow's ``mlflow.lightgbm`` loader builds a Booster with
``lightgbm.Booster(model_file=<flavor data>)`` when ``model_class`` is
``lightgbm.basic.Booster``, and its pyfunc wrapper calls ``booster.predict`` on the
frame, which LightGBM turns into the same float64 matrix we pass. Anything else (a
scikit-learn-API LightGBM model, code paths, params, a signature that is not all
doubles) returns ``None`` here and goes through pyfunc as before.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from mlkube.errors import ModelNotReadyError
from mlkube.server.signature import Table

logger = logging.getLogger("mlkube.server")

_BOOSTER_CLASS = "lightgbm.basic.Booster"

# LightGBM imports these only if they are installed, to offer APIs a Booster fed a numpy
# matrix never uses (pandas DataFrames, the scikit-learn estimators, Dask, Arrow,
# datatable). Held back, they cost nothing.
_OPTIONAL_IMPORTS = ("pandas", "sklearn", "dask", "pyarrow", "datatable", "cffi",
                     "matplotlib", "graphviz")


def direct_booster(model_path: str, flavors: dict[str, Any], *,
                   all_double: bool, has_params: bool) -> Any | None:
    """The model's Booster when it can be served without pyfunc, else ``None``."""
    pyfunc_conf = flavors.get("python_function") or {}
    lightgbm_conf = flavors.get("lightgbm") or {}
    if (pyfunc_conf.get("loader_module") != "mlflow.lightgbm" or not lightgbm_conf
            or not all_double or has_params
            # Code paths are put on sys.path by pyfunc; leave such models to it.
            or pyfunc_conf.get("code") or lightgbm_conf.get("code")
            or lightgbm_conf.get("model_class", _BOOSTER_CLASS) != _BOOSTER_CLASS
            or not lightgbm_conf.get("data")):
        return None
    model_file = os.path.join(model_path, str(lightgbm_conf["data"]))
    lightgbm = _import_lightgbm_alone()
    try:
        return lightgbm.Booster(model_file=model_file)
    except Exception as error:  # LightGBM raises its own LightGBMError for a bad file
        raise ModelNotReadyError(
            f"LightGBM could not read the model file {model_file}: {error}",
            hint="Log the model again with mlflow.lightgbm.log_model; the file may be "
            "truncated or written by a newer LightGBM than the one installed.",
        ) from error


def _import_lightgbm_alone() -> Any:
    """``import lightgbm`` with its optional imports held back (when not loaded yet).

    A ``None`` in ``sys.modules`` makes ``import name`` raise ImportError, which is how
    LightGBM learns a package is absent; the entries are removed right after, so
    anything imported later gets the real package.
    """
    if "lightgbm" in sys.modules:
        return sys.modules["lightgbm"]
    held_back = [name for name in _OPTIONAL_IMPORTS if name not in sys.modules]
    for name in held_back:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        import lightgbm
    except ImportError as error:
        raise ModelNotReadyError(
            f"The model is a LightGBM model, but lightgbm is not installed in this "
            f"environment ({error}).",
            hint="Add lightgbm to the model's environment (its requirements.txt).",
        ) from error
    finally:
        for name in held_back:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
    return lightgbm


# Requests up to this many rows are predicted on one thread: rows are scored
# independently, so the thread count cannot change them, and for small requests OpenMP's
# fork/join (and its spinning on a busy machine) costs far more than the trees.
SINGLE_THREAD_ROWS = 512

# LightGBM's C API constants (c_api.h), as its Python package passes them.
_PREDICT_NORMAL = 0
_DTYPE_FLOAT64 = 1
_COL_MAJOR, _ROW_MAJOR = 0, 1
_ONE_THREAD, _ALL_THREADS = b"num_threads=1", b""

Predictor = Callable[[Any, Any], Any]


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
    try:
        direct = _CApiPredictor(booster)
    except (AttributeError, OSError, TypeError, ValueError) as error:
        logger.info("LightGBM's C API is not used directly (%s); Booster.predict serves",
                    error)
        return _python_predictor(booster), "lightgbm-booster-python"
    if not direct.agrees_with_booster():
        logger.warning("LightGBM's C API gave other bytes than Booster.predict on the "
                       "probe rows; Booster.predict serves")
        direct.close()
        return _python_predictor(booster), "lightgbm-booster-python"
    return direct.predict, "lightgbm-booster"


def _python_predictor(booster: Any) -> Predictor:
    # pyfunc calls booster.predict(DataFrame); LightGBM turns the float64 frame into the
    # same float64 matrix we build, so outputs are identical.
    def predict_booster(data: Any, _params: Any) -> Any:
        if data.n_rows <= SINGLE_THREAD_ROWS:
            return booster.predict(data.matrix, num_threads=1)
        return booster.predict(data.matrix)

    return predict_booster


class _CApiPredictor:
    """``Booster.predict(matrix)``'s C calls with their per-model arguments fixed."""

    def __init__(self, booster: Any) -> None:
        import ctypes

        from lightgbm import basic


        self._booster = booster  # keeps the handle alive
        self._lib = basic._LIB
        self._error_class = basic.LightGBMError
        handle = booster._handle
        self._handle = handle
        self._width = booster.num_feature()
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
            ctypes.c_int32(self._width), ctypes.c_char_p(_ONE_THREAD),
            ctypes.byref(self._fast_config)))

    def predict(self, data: Any, _params: Any) -> Any:
        matrix = data.matrix
        rows, width = matrix.shape if matrix.ndim == 2 else (0, 0)
        if rows == 0 or width != self._width or matrix.dtype != np.float64:
            # LightGBM's own message for a wrong width; its own answer for no rows.
            return self._booster.predict(matrix, num_threads=1)
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

    def agrees_with_booster(self) -> bool:
        """Whether this gives ``Booster.predict``'s exact bytes on probe rows (one row
        and several, zeros, NaN and large values among them)."""
        rng = np.random.default_rng(0)
        probes = [rng.normal(0.0, 3.0, (rows, self._width)) for rows in (1, 7)]
        probes[1][0] = 0.0
        probes[1][1, ::2] = np.nan
        probes[1][2] = 1e30
        probes.append(np.asfortranarray(probes[1]))
        for matrix in probes:
            mine = self.predict(Table({}, len(matrix), matrix), None)
            theirs = self._booster.predict(matrix, num_threads=1)
            if (mine.shape != theirs.shape or mine.dtype != theirs.dtype
                    or mine.tobytes() != theirs.tobytes()):
                return False
        return True

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


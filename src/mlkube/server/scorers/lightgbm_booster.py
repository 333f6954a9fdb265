"""A LightGBM Booster loaded the way MLflow's pyfunc loads it, without importing MLflow.

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

import os
import sys
from typing import Any

from mlkube.errors import ModelNotReadyError

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

"""No-code scoring of an MLflow model: no score.py, the signature drives everything.

At load the signature is compiled once (``signature.py``) and a predictor is chosen:
where the flavor's own model gives output provably identical to pyfunc's ``predict``
on the validated input, it is called directly (LightGBM ``Booster.predict`` on a
float matrix in signature column order; scikit-learn ``predict`` on a DataFrame
with the signature's dtypes), skipping pyfunc's per-call DataFrame building and
schema enforcement that dominate a one-row predict; XGBoost Boosters and ONNX sessions
likewise (``direct_predictors.py``). Anything else (custom pyfunc, params, other
flavors) goes through ``pyfunc.predict``. Tests pin the equality. A plain LightGBM
Booster is loaded without MLflow at all (``lightgbm_booster.py``): a leaner,
faster-starting instance with the same predictions.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable
from typing import Any

from mlkube.errors import ModelNotReadyError
from mlkube.server import formats
from mlkube.server.batching import concat_inputs, split_output
from mlkube.server.scorers import direct_predictors
from mlkube.server.scorers.base import HttpRequest, Scorer
from mlkube.server.scorers.lightgbm_booster import direct_booster
from mlkube.server.signature import CompiledSignature, InputSignature, ModelInput, Table

logger = logging.getLogger("mlkube.server")

# Requests of up to this many rows to a compiled direct predictor may be predicted on
# the event loop (Scorer.may_run_inline) -- when alone in the server and while such calls
# stay quick (app.INLINE_LIMIT_S), which catches a model heavier than these rows suggest.
# 128 iris rows predict in about 95 µs (booster.predict, one thread); a lone 100-row
# request costs 12-16 % less server CPU on the loop than through the thread
# (bench/big_bodies.py; BENCHMARKS.md, "Big bodies").
INLINE_ROWS = 128


@dataclasses.dataclass(slots=True)
class PreparedInput:
    """A validated request: model input plus checked params."""

    model_input: ModelInput
    params: dict[str, Any] | None = None
    request_id: str | None = None


def find_model_folder(model_dir: str, mlflow_model_folder: str | None = None) -> str:
    """The folder holding ``MLmodel``: ``model_dir`` itself, its ``mlflow_model_folder``,
    or its one subfolder with an ``MLmodel`` (Azure ML's ``$AZUREML_MODEL_DIR/model``)."""
    if not os.path.isdir(model_dir):
        raise ModelNotReadyError(
            f"Model folder {model_dir} does not exist.",
            hint="Pass --model-dir (or AZUREML_MODEL_DIR) pointing at an MLflow model folder.",
        )
    if mlflow_model_folder:
        path = os.path.join(model_dir, mlflow_model_folder)
        if not os.path.isfile(os.path.join(path, "MLmodel")):
            raise ModelNotReadyError(
                f"No MLmodel file in {path} (MLFLOW_MODEL_FOLDER={mlflow_model_folder}).",
                hint="Set MLFLOW_MODEL_FOLDER to the subfolder that holds the MLmodel file.",
            )
        return path
    if os.path.isfile(os.path.join(model_dir, "MLmodel")):
        return model_dir
    candidates = sorted(
        entry.path for entry in os.scandir(model_dir)
        if entry.is_dir() and os.path.isfile(os.path.join(entry.path, "MLmodel"))
    )
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise ModelNotReadyError(
            f"No MLmodel file in {model_dir} or its subfolders, so there is no MLflow "
            "model to serve without a scoring script.",
            hint="Point --model-dir at an MLflow model folder, or pass --entry-script.",
        )
    raise ModelNotReadyError(
        f"{model_dir} holds several MLflow models: "
        + ", ".join(os.path.basename(c) for c in candidates) + ".",
        hint="Set MLFLOW_MODEL_FOLDER to the one to serve.",
    )


class MlflowScorer(Scorer):
    """Serves the MLflow model in ``settings.model_dir`` through its pyfunc flavor."""

    mode = "mlflow"
    batches = True

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.model_path: str | None = None
        self.signature = CompiledSignature(InputSignature())
        self.signature_dict: dict[str, Any] | None = None
        self.predictor_name = "pyfunc"
        self.input_example: Any = None
        self._pyfunc: Any = None
        self._predictor: Callable[[ModelInput, dict[str, Any] | None], Any] | None = None
        self._batches_exactly = True

    # -- load ----------------------------------------------------------------------------

    def load(self) -> None:
        if not self.settings.model_dir:
            raise ModelNotReadyError(
                "No model folder is set.", hint="Pass --model-dir or set AZUREML_MODEL_DIR."
            )
        self.model_path = find_model_folder(self.settings.model_dir,
                                            self.settings.mlflow_model_folder)
        document = _read_mlmodel(self.model_path)
        flavors = dict(document.get("flavors") or {})
        if "python_function" not in flavors:
            raise ModelNotReadyError(
                f"The MLflow model in {self.model_path} has no python_function flavor "
                f"(flavors: {', '.join(flavors) or 'none'}), so it cannot be served "
                "without a scoring script.",
                hint="Log the model with a flavor that adds python_function, or pass "
                "--entry-script with a score.py that loads it.",
            )
        if self._load_booster_directly(document, flavors):
            return
        try:
            import mlflow.pyfunc
        except ImportError as error:
            raise ModelNotReadyError(
                f"Serving an MLflow model without a script needs mlflow, which is not "
                f"installed in this environment ({error}).",
                hint="Add mlflow to the model's environment, or pass --entry-script.",
            ) from error
        self._pyfunc = mlflow.pyfunc.load_model(self.model_path)
        metadata = self._pyfunc.metadata
        self.signature_dict = metadata.signature.to_dict() if metadata.signature else None
        self.signature = CompiledSignature(InputSignature.from_mlflow_dict(self.signature_dict))
        self.input_example = _read_input_example(
            self.model_path, getattr(metadata, "saved_input_example_info", None))
        self._predictor, self.predictor_name = self._choose_predictor(flavors)
        # onnxruntime's kernels round floats differently for different batch sizes (by
        # about 1e-6 relative), so a request merged with others would not get exactly
        # what pyfunc gives it alone: ONNX requests are predicted as sent.
        self._batches_exactly = (flavors.get("python_function", {}).get("loader_module")
                                 != "mlflow.onnx")
        self._log_loaded()

    def _load_booster_directly(self, document: dict[str, Any],
                               flavors: dict[str, Any]) -> bool:
        """Serve a plain LightGBM Booster without loading MLflow (lightgbm_booster.py)."""
        assert self.model_path is not None
        signature_dict = document.get("signature") or None
        signature = CompiledSignature(InputSignature.from_mlflow_dict(signature_dict))
        booster = direct_booster(self.model_path, flavors, all_double=signature.all_double,
                                 has_params=bool(signature.signature.params))
        if booster is None:
            return False
        self.signature_dict, self.signature = signature_dict, signature
        self.input_example = _read_input_example(
            self.model_path, document.get("saved_input_example_info"))
        self._predictor, self.predictor_name = direct_predictors.booster_predictor(booster)
        self._log_loaded()
        return True

    def _log_loaded(self) -> None:
        logger.info("Loaded MLflow model %s (signature: %s, predictor: %s)",
                    self.model_path, self.signature.signature.kind, self.predictor_name)

    def _choose_predictor(
        self, flavors: dict[str, Any]
    ) -> tuple[Callable[[ModelInput, dict[str, Any] | None], Any], str]:
        pyfunc_conf = flavors.get("python_function", {})
        loader = pyfunc_conf.get("loader_module")
        signature = self.signature
        no_params = not signature.signature.params
        raw: Any = None
        if loader in ("mlflow.lightgbm", "mlflow.sklearn", "mlflow.xgboost", "mlflow.onnx"):
            try:
                raw = self._pyfunc.get_raw_model()
            except NotImplementedError:
                raw = None
        if raw is not None and loader in ("mlflow.xgboost", "mlflow.onnx"):
            direct = (direct_predictors.xgboost_predictor if loader == "mlflow.xgboost"
                      else direct_predictors.onnx_predictor)
            chosen = direct(raw, signature)
            if chosen is not None:
                return chosen
        if loader == "mlflow.lightgbm" and raw is not None and signature.all_double and no_params:
            import lightgbm

            if isinstance(raw, lightgbm.Booster):
                return direct_predictors.booster_predictor(raw)
        if (loader == "mlflow.sklearn" and raw is not None and no_params
                and signature.signature.kind == "columns" and signature.fully_checked
                and pyfunc_conf.get("predict_fn", "predict") == "predict"):
            # pyfunc calls model.predict(frame) on the schema-enforced frame; ours has the
            # same columns, order and dtypes.
            model = raw
            return (lambda data, _params: model.predict(data.to_frame())), "sklearn"
        pyfunc = self._pyfunc

        def predict(data: ModelInput, params: dict[str, Any] | None) -> Any:
            value = data.to_frame() if isinstance(data, Table) else data.value
            if params is None:
                return pyfunc.predict(value)
            return pyfunc.predict(value, params=params)

        return predict, "pyfunc"

    # -- per request ---------------------------------------------------------------------

    def decode(self, request: HttpRequest) -> PreparedInput:
        parsed = formats.parse_request(request.body, request.content_type)
        return PreparedInput(
            self.signature.decode(parsed),
            self.signature.check_params(parsed.params),
            parsed.request_id,
        )

    def predict(self, decoded: PreparedInput) -> Any:
        assert self._predictor is not None
        return self._predictor(decoded.model_input, decoded.params)

    def may_run_inline(self, decoded: PreparedInput) -> bool:
        return (self.predictor_name in direct_predictors.COMPILED_PREDICTORS
                and len(decoded.model_input) <= INLINE_ROWS)

    def can_batch(self, decoded: PreparedInput) -> bool:
        return decoded.params is None and self._batches_exactly

    def predict_batch(self, decoded: list[PreparedInput]) -> list[Any]:
        if len(decoded) == 1:
            return [self.predict(decoded[0])]
        assert self._predictor is not None
        inputs = [d.model_input for d in decoded]
        merged = concat_inputs(inputs)
        output = self._predictor(merged, None)
        return split_output(output, [len(i) for i in inputs])

    # -- descriptions --------------------------------------------------------------------

    def v2_metadata(self) -> dict[str, Any]:
        from mlkube.server.formats import V2_OUTPUT_NAME
        from mlkube.server.openapi import v2_tensor_metadata

        metadata = super().v2_metadata()
        sig = self.signature_dict or {}
        metadata["inputs"] = v2_tensor_metadata(sig.get("inputs"))
        metadata["outputs"] = v2_tensor_metadata(sig.get("outputs"), unnamed=V2_OUTPUT_NAME)
        if self.signature.signature.params:
            metadata["parameters"] = {
                p.name: {"type": p.type, "default": p.default}
                for p in self.signature.signature.params
            }
        return metadata

    def openapi_parts(self) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]:
        from mlkube.server.openapi import request_example, request_schema, response_schema

        return (request_schema(self.signature.signature),
                request_example(self.signature.signature, self.input_example),
                response_schema())


def _read_mlmodel(model_path: str) -> dict[str, Any]:
    import yaml

    with open(os.path.join(model_path, "MLmodel"), encoding="utf-8") as handle:
        document = yaml.safe_load(handle) or {}
    if not isinstance(document, dict):
        raise ModelNotReadyError(
            f"The MLmodel file in {model_path} is not a YAML mapping.",
            hint="Save the model again with mlflow.<flavor>.save_model or log_model.",
        )
    return document


def _read_input_example(model_path: str, info: dict[str, Any] | None) -> Any:
    """The saved input example as plain JSON (``{"columns", "data"}`` or a list)."""
    info = info or {}
    artifact = info.get("artifact_path")
    if not artifact:
        return None
    try:
        with open(os.path.join(model_path, artifact), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None

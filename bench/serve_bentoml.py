"""The BentoML 1.4 peer: the MLflow model imported into BentoML's model store with
``bentoml.mlflow`` and served by a one-worker service, as BentoML's MLflow guide does it.

Runs in its own virtualenv (requirements-bentoml.txt); ``$BENTOML_HOME`` holds the store.

    python serve_bentoml.py MODEL_DIR PORT   # import (once), then `bentoml serve` this file

The service answers ``POST /score`` with ``{"data": [[...]]}`` (BentoML maps the JSON
field to the ``data`` argument) by the pyfunc's predictions, a bare JSON array.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import bentoml
import numpy as np
import pandas as pd

MODEL_NAME = "iris-lgbm"


@bentoml.service(workers=1)
class IrisService:
    def __init__(self) -> None:
        self.model = bentoml.mlflow.load_model(f"{MODEL_NAME}:latest")
        # The signature names the columns; pyfunc checks a DataFrame against them.
        self.columns = self.model.metadata.get_input_schema().input_names()

    @bentoml.api
    def score(self, data: list[list[float]]) -> list[list[float]]:
        frame = pd.DataFrame(data, columns=self.columns)
        return np.asarray(self.model.predict(frame)).tolist()


def main(model_dir: str, port: str) -> None:
    try:
        bentoml.models.get(f"{MODEL_NAME}:latest")
    except bentoml.exceptions.NotFound:
        bentoml.mlflow.import_model(MODEL_NAME, model_uri=model_dir)
    here = Path(__file__).resolve().parent
    bentoml_bin = Path(sys.executable).parent / "bentoml"
    os.execv(bentoml_bin, [str(bentoml_bin), "serve", f"{Path(__file__).stem}:IrisService",
                           "--working-dir", str(here), "--host", "127.0.0.1", "-p", port])


if __name__ == "__main__":
    main(*sys.argv[1:])

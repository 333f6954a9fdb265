"""The LitServe peer, two ways: the MLflow pyfunc on a DataFrame, or the LightGBM booster
called directly on a numpy array (LitServe's own examples skip MLflow's layer).

Runs in its own virtualenv (requirements-litserve.txt); one API server process and one
inference worker (LitServe's minimum).

    python serve_litserve.py pyfunc|booster MODEL_DIR PORT

``POST /predict`` with ``{"data": [[...]]}``; the answer is a bare JSON array.
"""

from __future__ import annotations

import sys
from pathlib import Path

import litserve as ls
import numpy as np


class PyfuncAPI(ls.LitAPI):
    def __init__(self, model_dir: str) -> None:
        super().__init__()
        self.model_dir = model_dir

    def setup(self, device: str) -> None:
        import mlflow.pyfunc

        self.model = mlflow.pyfunc.load_model(self.model_dir)
        self.columns = self.model.metadata.get_input_schema().input_names()

    def decode_request(self, request: dict):
        import pandas as pd

        return pd.DataFrame(request["data"], columns=self.columns)

    def predict(self, frame):
        return self.model.predict(frame)

    def encode_response(self, output) -> list:
        return np.asarray(output).tolist()


class BoosterAPI(ls.LitAPI):
    def __init__(self, model_dir: str) -> None:
        super().__init__()
        self.model_dir = model_dir

    def setup(self, device: str) -> None:
        import lightgbm

        self.booster = lightgbm.Booster(model_file=str(Path(self.model_dir) / "model.lgb"))

    def decode_request(self, request: dict) -> np.ndarray:
        return np.asarray(request["data"], dtype=np.float64)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return self.booster.predict(rows)

    def encode_response(self, output: np.ndarray) -> list:
        return output.tolist()


def main(variant: str, model_dir: str, port: str) -> None:
    api = {"pyfunc": PyfuncAPI, "booster": BoosterAPI}[variant](model_dir)
    server = ls.LitServer(api, accelerator="cpu", devices=1, workers_per_device=1)
    server.run(host="127.0.0.1", port=int(port), num_api_servers=1,
               generate_client_file=False, log_level="warning")


if __name__ == "__main__":
    main(*sys.argv[1:])

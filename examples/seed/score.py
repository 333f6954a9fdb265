# The seed's scoring script, as written for Azure ML's inference server. mlkube runs it
# unchanged; it is kept here as the reference for entry-script mode.
import json
import os

import mlflow
import numpy as np


def init():
    global model
    # AZUREML_MODEL_DIR is the registered model's folder; the MLflow model logged under
    # artifact path "model" sits in it as "model".
    model = mlflow.lightgbm.load_model(os.getenv("AZUREML_MODEL_DIR") + "/model")


def run(input_data):
    data = np.array(json.loads(input_data)["data"])
    result = model.predict(data)
    return result.tolist()

# The sample's scoring script (deploy_local.py and deploy_kubernetes.py name it as
# code "scoring/", scoring_script "score.py"), written for Azure ML's inference server;
# mlkube runs it unchanged in entry-script mode.
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

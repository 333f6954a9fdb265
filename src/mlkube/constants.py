"""Constants with Azure ML v2's names, so `from azure.ai.ml.constants import AssetTypes`
ports as `from mlkube.constants import AssetTypes`."""

from __future__ import annotations


class AssetTypes:
    """Types of models and job inputs."""

    MLFLOW_MODEL = "mlflow_model"
    CUSTOM_MODEL = "custom_model"
    URI_FILE = "uri_file"
    URI_FOLDER = "uri_folder"


class InputOutputModes:
    RO_MOUNT = "ro_mount"
    DOWNLOAD = "download"
    DIRECT = "direct"

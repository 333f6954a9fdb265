"""CodeConfiguration: the folder with a scoring script and the script's name."""

from __future__ import annotations

from mlkube.entities.base import SpecPath
from mlkube.entities.sdk_resource import SdkResource


class CodeConfiguration(SdkResource):
    """As in Azure ML v2: ``CodeConfiguration(code="./src", scoring_script="score.py")``.

    Optional for MLflow models (mlkube scores them with no script).
    """

    code: SpecPath
    scoring_script: str

"""Jobs the operations tests submit: the seed's real training job, and small commands."""

from __future__ import annotations

from mlkube.entities.input import Input
from mlkube.entities.job import command
from mlkube.operations.jobs import JobOperations
from mlkube.workspace import Workspace
from tests.models import IRIS_CSV, SEED_DIR


def submit_seed_training(workspace: Workspace) -> str:
    """Submit examples/seed/training/train.py (LightGBM + mlflow.autolog()) with the
    input iris_csv = examples/seed/data/iris.csv; returns the job's name."""
    job = command(
        code=str(SEED_DIR / "training"),
        command="python train.py --iris-csv ${{inputs.iris_csv}} "
                "--learning-rate ${{inputs.learning_rate}}",
        inputs={"iris_csv": Input(type="uri_file", path=str(IRIS_CSV)),
                "learning_rate": 0.1},
        experiment_name="iris-training",
        display_name="seed training",
    )
    return JobOperations(workspace).create_or_update(job).name

"""Doctor fixtures: writable copies of the real fixture models, and small scripts."""

import shutil
import textwrap
from pathlib import Path

import pytest


@pytest.fixture
def iris_copy(iris_lgbm_model_root, tmp_path) -> Path:
    """A copy of the iris MLflow model folder (the one holding MLmodel), to break."""
    return Path(shutil.copytree(iris_lgbm_model_root / "model", tmp_path / "model"))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path

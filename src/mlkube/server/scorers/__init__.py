"""Scorers: what turns a decoded request into a prediction (no-code MLflow or score.py).

``make_scorer`` picks one from the settings: an entry script when one is set (Azure ML
semantics), else the MLflow model in the model folder.
"""

from __future__ import annotations

from mlkube.server.scorers.base import Scorer
from mlkube.server.settings import ServerSettings


def make_scorer(settings: ServerSettings) -> Scorer:
    """The scorer the settings ask for; nothing is loaded yet (``Scorer.load`` does that)."""
    if settings.entry_script:
        from mlkube.server.scorers.entry_script import EntryScriptScorer

        return EntryScriptScorer(settings)
    from mlkube.server.scorers.mlflow import MlflowScorer

    return MlflowScorer(settings)


__all__ = ["Scorer", "make_scorer"]

"""Preflight checks: what would go wrong with a model, a scoring script, an environment or
a deployment, found before deploying, each with its cause and its fix."""

from mlkube.doctor.diagnose import diagnose
from mlkube.doctor.findings import Finding, has_errors

__all__ = ["Finding", "diagnose", "has_errors"]

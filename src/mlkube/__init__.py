"""mlkube: deploy MLflow models as authenticated online endpoints.

Locally as a process, in Docker, or on any Kubernetes cluster, from the same spec, with
the same inference server and request formats. The public API is shaped like Azure ML
v2's SDK so scripts port by changing imports.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]

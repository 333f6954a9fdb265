"""``from azureml.contrib.services.aml_response import AMLResponse`` without Azure.

A shim (see ``aml_request.py`` beside it): an installed Azure package wins over it.
"""

from mlkube.server.scorers.raw_response import AMLResponse

__all__ = ["AMLResponse"]

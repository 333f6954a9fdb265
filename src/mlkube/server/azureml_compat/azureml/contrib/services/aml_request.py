"""``from azureml.contrib.services.aml_request import AMLRequest, rawhttp`` without Azure.

A shim so Azure ML raw-HTTP score.py files import unchanged. It is a namespace-package
portion placed *after* site-packages on ``sys.path``, so an installed
``azureml-contrib-services`` or ``azureml-inference-server-http`` wins over it.
"""

from mlkube.server.scorers.raw_request import AMLRequest, rawhttp

__all__ = ["AMLRequest", "rawhttp"]
